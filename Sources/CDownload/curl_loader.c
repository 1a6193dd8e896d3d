/* curl_loader.c - see curl_loader.h. */
#define _GNU_SOURCE
#include "curl_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* libcurl's ABI values (curl/curl.h, stable since 7.x): option numbers are type base + index. */
enum {
    OPT_LOW_SPEED_LIMIT = 19, OPT_LOW_SPEED_TIME = 20, OPT_CONNECTTIMEOUT = 78, OPT_FAILONERROR = 45, OPT_FOLLOWLOCATION = 52, OPT_NOSIGNAL = 99,
    OPT_WRITEDATA = 10001, OPT_URL = 10002, OPT_ERRORBUFFER = 10010,
    INFO_RESPONSE_CODE = 0x200002, ERROR_BUFFER_SIZE = 256, CURLE_HTTP_RETURNED_ERROR = 22,
};

static struct {
    void *(*init)(void);
    int (*setopt)(void *, int, ...);
    int (*perform)(void *);
    int (*getinfo)(void *, int, ...);
    void (*cleanup)(void *);
    const char *(*strerror)(int);
} curl;
static char load_error[512];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    void *handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(load_error, sizeof load_error, "downloading needs libcurl (Debian: apt install libcurl4): %s", dlerror());
        return;
    }
    *(void **)&curl.init = dlsym(handle, "curl_easy_init");
    *(void **)&curl.setopt = dlsym(handle, "curl_easy_setopt");
    *(void **)&curl.perform = dlsym(handle, "curl_easy_perform");
    *(void **)&curl.getinfo = dlsym(handle, "curl_easy_getinfo");
    *(void **)&curl.cleanup = dlsym(handle, "curl_easy_cleanup");
    *(void **)&curl.strerror = dlsym(handle, "curl_easy_strerror");
    if (!curl.init || !curl.setopt || !curl.perform || !curl.getinfo || !curl.cleanup || !curl.strerror) {
        snprintf(load_error, sizeof load_error, "libcurl.so.4 lacks the curl_easy functions");
        curl.init = NULL;
    }
}

int cdl_download(const char *url, const char *path, long timeout_seconds, char *message, size_t message_size) {
    pthread_once(&once, load);
    if (!curl.init) { snprintf(message, message_size, "%s", load_error); return -1; }
    FILE *file = fopen(path, "wb");
    if (!file) { snprintf(message, message_size, "cannot create %s", path); return -1; }
    void *easy = curl.init();
    if (!easy) { fclose(file); remove(path); snprintf(message, message_size, "libcurl could not start"); return -1; }
    char error[ERROR_BUFFER_SIZE] = "";
    curl.setopt(easy, OPT_URL, url);
    curl.setopt(easy, OPT_WRITEDATA, file);  /* libcurl's default write callback fwrite()s to it */
    curl.setopt(easy, OPT_FOLLOWLOCATION, 1L);
    curl.setopt(easy, OPT_FAILONERROR, 1L);  /* an HTTP status ≥ 400 is an error, not a body */
    curl.setopt(easy, OPT_CONNECTTIMEOUT, timeout_seconds);
    curl.setopt(easy, OPT_LOW_SPEED_LIMIT, 1L);  /* stalled: under a byte a second for timeout_seconds */
    curl.setopt(easy, OPT_LOW_SPEED_TIME, timeout_seconds);
    curl.setopt(easy, OPT_NOSIGNAL, 1L);     /* no SIGALRM for timeouts: the process has other threads */
    curl.setopt(easy, OPT_ERRORBUFFER, error);
    const int code = curl.perform(easy);
    long status = 0;
    curl.getinfo(easy, INFO_RESPONSE_CODE, &status);
    curl.cleanup(easy);
    const int closed = fclose(file);
    if (code == 0 && closed == 0) return 0;
    if (code == CURLE_HTTP_RETURNED_ERROR && status > 0) snprintf(message, message_size, "HTTP %ld", status);
    else if (code != 0) snprintf(message, message_size, "%s", error[0] ? error : curl.strerror(code));
    else snprintf(message, message_size, "cannot write %s", path);
    remove(path);
    return -1;
}
