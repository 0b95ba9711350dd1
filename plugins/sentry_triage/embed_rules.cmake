# cmake -DIN=<rules.toml> -DOUT=<header> -P embed_rules.cmake
# Writes a header holding IN as a raw string literal, so sentry_triage.so needs no files at run time.
file(READ "${IN}" text)
string(FIND "${text}" ")fx_triage\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter ')fx_triage\"'; remove it")
endif()
file(WRITE "${OUT}.tmp"
     "#pragma once\n// Generated from ${IN} by embed_rules.cmake; do not edit.\n#include <string_view>\n"
     "namespace fixhost::sentry_triage {\ninline constexpr std::string_view k_shipped_triage_rules_toml = R\"fx_triage(${text})fx_triage\";\n}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
