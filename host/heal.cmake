# Self-heal (issue 10): the HTTP ingest (`hostctl serve`), the triage view (`hostctl triage`).
# Included from host/CMakeLists.txt; kept apart so the heal pieces build as one library.
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(BROTLI REQUIRED IMPORTED_TARGET libbrotlidec libbrotlienc)

add_library(fixhost_heal STATIC src/world/http/body.cpp src/world/http/client.cpp src/heal/ingest.cpp src/heal/serve.cpp
                               src/heal/triage_view.cpp src/heal/sentry_api.cpp src/workflows/heal/heal.cpp
                               src/workflows/heal/fix.cpp)
add_library(fixhost::heal ALIAS fixhost_heal)
target_include_directories(fixhost_heal PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(fixhost_heal PUBLIC fixhost::host simdjson::simdjson
                                   PRIVATE Boost::headers OpenSSL::SSL OpenSSL::Crypto ZLIB::ZLIB PkgConfig::BROTLI pthread)

target_sources(hostctl PRIVATE src/cli/cmd_serve.cpp src/cli/cmd_triage.cpp src/cli/cmd_heal.cpp)
target_link_libraries(hostctl PRIVATE fixhost::heal)
