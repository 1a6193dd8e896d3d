/*
 * curl_loader.h - downloads a URL into a file with libcurl, loaded on first use (dlopen) instead of linked.
 *
 * Foundation's URLSession (FoundationNetworking) links libcurl and, through it, some thirty libraries (TLS,
 * Kerberos, LDAP, IDN, …) that every `yolo` process then loads and relocates at start — for a download that
 * happens once per model, if ever. Loaded here, a process that never downloads never maps them, and a binary
 * linked with the static Swift runtime needs no libcurl development files. Debian: libcurl4 (libcurl.so.4).
 */
#ifndef CURL_LOADER_H
#define CURL_LOADER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the body of `url` (http, https, file, …; redirects followed) to `path`, created or truncated. 0 on
 * success; else -1 with the reason in `message` (the HTTP status, libcurl's error, or why libcurl is missing),
 * and `path` removed. Gives up after `timeout_seconds` without a connection or without data (not a limit on a
 * large file's whole transfer). */
int cdl_download(const char *url, const char *path, long timeout_seconds, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
