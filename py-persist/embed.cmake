# embed.cmake -DIN=file -DOUT=header -DNAME=identifier: a C++ header holding IN as a string.
file(READ ${IN} content)
file(WRITE ${OUT} "// Generated from ${IN} by embed.cmake; do not edit.\n#pragma once\n"
  "inline constexpr const char ${NAME}[] = R\"pysrc(${content})pysrc\";\n")
