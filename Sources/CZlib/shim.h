// zlib, for gzip-compressed dataset files (Debian's zlib1g-dev).
#include <zlib.h>
