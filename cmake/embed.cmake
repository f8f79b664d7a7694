# Turns INPUT into a C++ source defining exfilwatch::builtin_rules_yaml (a std::string_view).
file(READ ${INPUT} content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUTPUT} "// generated from ${INPUT}; do not edit\n#include <string_view>\n"
  "namespace exfilwatch {\nnamespace {\nconstexpr char data[] = {${bytes} 0};\n}\n"
  "extern const std::string_view builtin_rules_yaml{data, sizeof(data) - 1};\n}\n")
