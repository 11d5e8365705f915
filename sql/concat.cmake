# Concatenate the SQL parts into the extension's install script.
file(WRITE ${OUT} "-- ruvector install script (generated from sql/*.sql; edit those files)\n")
file(APPEND ${OUT} "\\echo Use \"CREATE EXTENSION ruvector\" to load this file. \\quit\n")
foreach(f ${INPUTS})
  file(READ ${f} content)
  get_filename_component(name ${f} NAME)
  file(APPEND ${OUT} "\n-- ==== ${name} ====\n${content}")
endforeach()
