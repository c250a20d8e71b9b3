#!/bin/sh
# Turn a file into a C string constant: embed.sh NAME FILE > out.c
# Uses only od and sed (coreutils), so a fresh machine needs nothing more.
set -e
name=$1
file=$2
echo "/* generated from $file by tools/embed.sh; do not edit */"
echo "#include <stddef.h>"
echo "const char ${name}[] = {"
od -An -v -tx1 "$file" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/    /'
echo "    0x00};"
echo "const size_t ${name}_len = sizeof(${name}) - 1;"
