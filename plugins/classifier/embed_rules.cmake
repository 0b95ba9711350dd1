# cmake -DIN=<rules.toml> -DOUT=<header> -P embed_rules.cmake
# Writes a header holding IN as a raw string literal, so classifier.so needs no files at run time.
file(READ "${IN}" text)
string(FIND "${text}" ")fixhost_rules\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter ')fixhost_rules\"'; remove it")
endif()
file(WRITE "${OUT}.tmp"
     "#pragma once\n// Generated from ${IN} by embed_rules.cmake; do not edit.\n#include <string_view>\n"
     "namespace fixhost::classifier {\ninline constexpr std::string_view k_shipped_rules_toml = R\"fixhost_rules(${text})fixhost_rules\";\n}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
