# neurite_add_plugin(<name> SOURCES <files>... [LIBRARIES <libs>...])
#
# Builds one plugin library against the SDK headers only. Used by the built-in
# plugins and, once installed, by third parties (find_package(Neurite)).
function(neurite_add_plugin name)
    cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
    add_library(${name} MODULE ${ARG_SOURCES})
    target_compile_features(${name} PRIVATE cxx_std_20)
    target_link_libraries(${name} PRIVATE Neurite::sdk ${ARG_LIBRARIES})
    set_target_properties(${name} PROPERTIES
        PREFIX ""
        CXX_VISIBILITY_PRESET hidden
        VISIBILITY_INLINES_HIDDEN ON)
    if(NEURITE_PLUGIN_OUTPUT_DIR)
        set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${NEURITE_PLUGIN_OUTPUT_DIR})
    endif()
    if(NEURITE_PLUGIN_INSTALL_DIR)
        install(TARGETS ${name} LIBRARY DESTINATION ${NEURITE_PLUGIN_INSTALL_DIR})
    endif()
endfunction()
