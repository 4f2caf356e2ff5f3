// placeholder: replaced by the FAISS C API implementation
