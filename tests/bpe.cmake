# core/rag_bpe: exact BPE token ids. Needs data/tiktoken and node with
# js-tiktoken in third_party/ (scripts/fetch-tiktoken.sh provides both).
rag_add_test(NAME test_bpe SOURCES test_bpe.c LIBS rag_core TIMEOUT 120)
