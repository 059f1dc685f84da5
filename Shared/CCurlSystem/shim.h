#ifndef CCURL_SYSTEM_SHIM_H
#define CCURL_SYSTEM_SHIM_H
// Only the system headers; the typed wrappers live in the CCurl C target.
#include <curl/curl.h>
#endif
