# Include this file to build a plugin against the fixhost SDK from outside the fixhost tree:
#   include(/path/to/fixhost/sdk/fixhost-sdk.cmake)
#   fixhost_plugin(my_plugin my_plugin.cpp)
# It defines the header-only target fixhost::sdk (sdk/include plus the event headers it uses).
if(NOT TARGET fixhost::sdk)
  find_package(cereal CONFIG REQUIRED)
  get_filename_component(_fixhost_root "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
  add_library(fixhost_sdk INTERFACE)
  add_library(fixhost::sdk ALIAS fixhost_sdk)
  target_include_directories(fixhost_sdk INTERFACE ${_fixhost_root}/sdk/include ${_fixhost_root}/events/include)
  target_link_libraries(fixhost_sdk INTERFACE cereal::cereal)
  target_compile_features(fixhost_sdk INTERFACE cxx_std_20)
endif()

# fixhost_plugin(<name> <sources>...): a MODULE library named <name>.so exporting only the
# FIXHOST_PLUGIN entry points.
function(fixhost_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE fixhost::sdk)
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
                                           POSITION_INDEPENDENT_CODE ON)
  # GCC marks some inline statics (e.g. std::to_string's digit table) STB_GNU_UNIQUE, which makes
  # dlclose a no-op: the plugin could never be unloaded. Plugins share nothing, so opt out.
  target_compile_options(${name} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
  if(DEFINED FIXHOST_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${FIXHOST_PLUGIN_OUTPUT_DIR})
  endif()
endfunction()
