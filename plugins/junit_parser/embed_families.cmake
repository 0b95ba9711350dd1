# cmake -DIN=<families.toml> -DOUT=<header> -P embed_families.cmake
# Writes a header holding IN as a raw string literal (the plugin and the host need no files at run time).
file(READ "${IN}" text)
string(FIND "${text}" ")fixhost_families\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter ')fixhost_families\"'; remove it")
endif()
file(WRITE "${OUT}.tmp"
     "#pragma once\n// Generated from ${IN} by embed_families.cmake; do not edit.\n#include <string_view>\n"
     "inline constexpr std::string_view k_shipped_families_toml = R\"fixhost_families(${text})fixhost_families\";\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
