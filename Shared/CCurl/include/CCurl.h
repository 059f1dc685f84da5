#ifndef CCURL_H
#define CCURL_H

// Typed, non-variadic wrappers around libcurl's variadic curl_easy_setopt /
// curl_easy_getinfo, which Swift cannot call directly. Only HTTPClient uses
// this module (via `internal import`), so no curl type leaks into public API.

#include <curl/curl.h>

/// Calls curl_global_init(CURL_GLOBAL_ALL) exactly once per process
/// (pthread_once) and returns that first result on every call. Never paired
/// with curl_global_cleanup: the library stays initialised for the process.
CURLcode ccurl_global_init_once(void);

CURLcode ccurl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode ccurl_easy_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
/// libcurl copies string arguments (except CURLOPT_POSTFIELDS / ERRORBUFFER).
CURLcode ccurl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
/// For options whose argument is a raw pointer libcurl keeps (userdata,
/// CURLOPT_POSTFIELDS, CURLOPT_ERRORBUFFER): the caller owns the memory.
CURLcode ccurl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode ccurl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
/// CURLOPT_WRITEFUNCTION or CURLOPT_HEADERFUNCTION (same signature).
CURLcode ccurl_easy_setopt_data_callback(CURL *handle, CURLoption option, curl_write_callback callback);
/// Sets CURLOPT_XFERINFOFUNCTION and turns CURLOPT_NOPROGRESS off.
CURLcode ccurl_easy_setopt_xferinfo(CURL *handle, curl_xferinfo_callback callback, void *userdata);

/// Restricts both the initial request and redirects to http and https
/// (CURLOPT_PROTOCOLS_STR on libcurl >= 7.85, the older bitmask otherwise).
CURLcode ccurl_easy_restrict_to_http(CURL *handle);

CURLcode ccurl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);

/// Drains the multi handle's message queue; returns 1 and stores the result
/// code if a CURLMSG_DONE message was found, 0 otherwise.
int ccurl_multi_take_done(CURLM *multi, CURLcode *result);

#endif
