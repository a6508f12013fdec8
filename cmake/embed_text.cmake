# cmake -DINPUT=FILE -DOUTPUT=FILE.cpp -DSYMBOL=NAME -DHEADER=INCLUDE -P embed_text.cmake: FILE's
# text as `const char* const circal::NAME` in a generated source, so the binary carries a file
# of the repository (stages/export/modeling_circal.py) and an installed circal needs no source
# tree. file(CONFIGURE) rewrites OUTPUT only when the text changes: no needless rebuild.
file(READ ${INPUT} text)
set(delimiter "circal_embedded")
string(FIND "${text}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${delimiter}\"")
endif()
file(CONFIGURE OUTPUT ${OUTPUT} CONTENT
"// Generated from ${INPUT} by cmake/embed_text.cmake; do not edit.
#include \"${HEADER}\"

namespace circal {

const char* const ${SYMBOL} = R\"${delimiter}(@text@)${delimiter}\";

}  // namespace circal
" @ONLY)
