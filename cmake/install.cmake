# cmake/install.cmake — what `cmake --install` (and `make install`) puts where, under
# GNUInstallDirs: the ctxd binary, its man page, the systemd unit and sysusers.d entry,
# bash and zsh completion, the example environment file and the documentation.
# docs/install.md describes the result; tests/install checks it.
# Must not: install anything outside CMAKE_INSTALL_PREFIX except where the cache
# variables below are set to absolute paths, or build anything.
include(GNUInstallDirs)

set(CTXD_SYSTEMD_UNITDIR "lib/systemd/system"
    CACHE STRING "Where the systemd unit goes (relative to the prefix, or absolute)")
set(CTXD_SYSUSERSDIR "lib/sysusers.d"
    CACHE STRING "Where the sysusers.d entry creating the ctxd user goes (relative or absolute)")
set(CTXD_BASH_COMPLETIONDIR "${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions"
    CACHE STRING "Where the bash completion goes (relative to the prefix, or absolute)")
set(CTXD_ZSH_COMPLETIONDIR "${CMAKE_INSTALL_DATAROOTDIR}/zsh/vendor-completions"
    CACHE STRING "Where the zsh completion goes (relative to the prefix, or absolute)")

set(_ctxd_dist ${CMAKE_SOURCE_DIR}/dist)

install(TARGETS ctxd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${_ctxd_dist}/ctxd.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${_ctxd_dist}/completion/ctxd.bash DESTINATION ${CTXD_BASH_COMPLETIONDIR}
        RENAME ctxd)
install(FILES ${_ctxd_dist}/completion/_ctxd DESTINATION ${CTXD_ZSH_COMPLETIONDIR})
install(FILES ${_ctxd_dist}/systemd/ctxd.sysusers DESTINATION ${CTXD_SYSUSERSDIR}
        RENAME ctxd.conf)

# The unit names the installed binary, so it is written at install time: a prefix given
# to `cmake --install --prefix P` then lands in ExecStart too. It is written straight to
# its destination (nothing in the build tree, which a `sudo cmake --install` would leave
# owned by root) and recorded in install_manifest.txt like every other file.
install(CODE [[
  function(ctxd_install_unit in bindir unitdir)
    foreach(d bindir unitdir)
      if(NOT IS_ABSOLUTE "${${d}}")
        set(${d} "${CMAKE_INSTALL_PREFIX}/${${d}}")
      endif()
    endforeach()
    set(CMAKE_INSTALL_FULL_BINDIR "${bindir}")
    file(READ "${in}" unit)
    string(CONFIGURE "${unit}" unit @ONLY)
    set(out "$ENV{DESTDIR}${unitdir}/ctxd.service")
    message(STATUS "Installing: ${out}")
    file(WRITE "${out}" "${unit}")
    set(CMAKE_INSTALL_MANIFEST_FILES ${CMAKE_INSTALL_MANIFEST_FILES} "${out}" PARENT_SCOPE)
  endfunction()
]])
install(CODE "ctxd_install_unit(\"${_ctxd_dist}/systemd/ctxd.service.in\"
                                \"${CMAKE_INSTALL_BINDIR}\" \"${CTXD_SYSTEMD_UNITDIR}\")")

install(FILES ${_ctxd_dist}/ctxd.env.example ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# docs/*.md as they are when installing (a page added since configuring comes along too)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md")
foreach(_ctxd_license LICENSE LICENSE.md LICENSE.txt COPYING)
  if(EXISTS ${CMAKE_SOURCE_DIR}/${_ctxd_license})
    install(FILES ${CMAKE_SOURCE_DIR}/${_ctxd_license} DESTINATION ${CMAKE_INSTALL_DOCDIR})
  endif()
endforeach()
