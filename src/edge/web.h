/* Web: the single-page app's files (web/, built by Vite into <web_root>),
 * served for GET and HEAD requests that no route matched and that are not
 * under /api (the API's unknown paths keep their problem+json 404; a
 * matched route never reaches this module, so the API pays nothing for it).
 *
 *   - a path naming a regular file under the root is sent as it is, or as
 *     its precompressed sibling <file>.br / <file>.gz when Accept-Encoding
 *     allows it (Content-Encoding, Vary: Accept-Encoding);
 *   - a path naming no file and with no extension in its last segment is an
 *     app route (/orders/123): index.html answers it when the client takes
 *     text/html (a browser's navigation); a fetch or an API client gets the
 *     problem+json 404 instead of a page it cannot parse;
 *   - `..`, `.` and dot-file segments, empty segments, encoded slashes and
 *     symlinks that lead out of the root are 404;
 *   - /assets/ (content-hashed names) is cached for a year, immutable; the
 *     rest (index.html) is revalidated on every use (no-cache) with a strong
 *     ETag (size, mtime, coding) and Last-Modified; If-None-Match gives 304;
 *   - HTML carries the Content-Security-Policy and framing/referrer headers.
 * Files are opened per request and handed to the HTTP server as a
 * descriptor (sf_req_reply_file): no file is held in memory. */
#ifndef SF_EDGE_WEB_H
#define SF_EDGE_WEB_H

#include <stddef.h>

#include "core/http.h"

/* Main thread, before serving: web_root empty means the `web` directory
 * beside the executable. Logs where the app is served from, or one line
 * saying it is not built. Never fails: without the directory every app path
 * answers a 404 that says how to build it. */
void sf_web_init(const char *web_root);

/* HTTP thread, for a request no route matched: answers it and returns 1
 * when it is the web app's (GET or HEAD, path not /api or under /api/);
 * returns 0 and leaves req alone otherwise. */
int sf_web_serve(sf_req *req);

/* ---- pure helpers (exposed for the unit test) ---- */

/* The file a decoded URL path names, relative to the root, into out (cap
 * bytes): "/" gives "index.html", "/a/b.js" gives "a/b.js". -1 when the
 * path is refused: not absolute, a NUL or backslash, an empty, `.`, `..`
 * or dot-file segment, or too long. */
int sf_web_clean_path(const char *path, char *out, size_t cap);

enum { SF_WEB_GZIP = 1, SF_WEB_BR = 2 };
/* The coding to send among those available (SF_WEB_* bits) that the
 * Accept-Encoding value allows (NULL: none but identity): the one of higher
 * q, br on a tie; a coding with q=0, or "*;q=0" without the coding named, is
 * refused. 0 = identity. */
int sf_web_pick_encoding(const char *accept_encoding, int available);

#endif
