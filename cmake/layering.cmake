# Enforces the sans-I/O rule of DESIGN.md: files under replication/ may not
# include libuv, OpenSSL or RocksDB headers. Checked at configure time (and
# re-checked whenever a file of the folder changes, via CONFIGURE_DEPENDS).
function(edgekv_check_layering dir)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS ${dir}/*.c ${dir}/*.h)
  foreach(f ${files})
    file(STRINGS ${f} bad REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](uv\\.h|uv/|openssl/|rocksdb/)")
    if(bad)
      message(FATAL_ERROR "layering: ${f} includes an I/O header (${bad}); "
                          "replication/ must stay sans-I/O")
    endif()
  endforeach()
endfunction()
