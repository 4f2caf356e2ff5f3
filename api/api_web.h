/* api/api_web.h -- The web page of `ragd serve` (api/api_web.c): GET / and
** GET /index.html reply with api/web/index.html, embedded in the binary
** at build time (api/web/embed.cmake writes it into a generated C file). */
#ifndef API_WEB_H
#define API_WEB_H

#include "api/api_int.h"

int api_h_web(api_req *r);

#endif
