# tests/faults.cmake -- storage fault injection (core/rag_fault.h, the shim
# VFS of index/kb_vfs.c, the FAISS file writer): only in builds configured
# with -DRAGD_FAULT=ON (scripts/test.sh does), where the hook exists.
if(RAGD_FAULT)
  rag_add_test(NAME test_faults SOURCES test_faults.c LIBS rag_ingest
               SQLite::SQLite3 TIMEOUT 300)
  # Hundreds of small ingests: OpenMP worker threads that spin between
  # them only slow the runs down on a loaded machine, and a tmpfs keeps the
  # fsyncs of every run from reaching a disk. Neither changes what is
  # checked: faults are injected above the file system.
  set(faults_env OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive)
  if(IS_DIRECTORY /dev/shm)
    list(APPEND faults_env TMPDIR=/dev/shm)
  endif()
  set_property(TEST test_faults APPEND PROPERTY ENVIRONMENT ${faults_env})
else()
  message(STATUS "test_faults: not built (configure with -DRAGD_FAULT=ON)")
endif()
