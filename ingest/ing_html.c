/* ingest/ing_html.c -- HTML to text for the loader (ing_html_to_text()).
**
** Not a full HTML5 parser: a single forward scan that is robust to broken
** markup (an unclosed comment or tag swallows the rest, as browsers do)
** and good enough for retrieval, where the goal is the readable text and
** its heading structure, not a DOM.
**
** Divisions: 1. entities  2. the output writer (whitespace collapsing)
**            3. tags  4. ing_html_to_text()
**
** Output rules: text runs collapse whitespace to one space; block elements
** ask for a line break or a blank line, and only the strongest request
** between two pieces of text is written, so nested divs do not pile up
** empty lines. Inside <pre>, text is copied as is. */
#include "ingest/ing_load.h"

#include "core/rag_utf8.h"

#include <stdlib.h>
#include <string.h>

/* ---- 1. entities ------------------------------------------------------ */

typedef struct entity {
  const char *name;
  uint32_t cp;
} entity;

/* The HTML named references seen in real pages (Latin-1, typography,
** arrows, math, Greek), sorted by strcmp for bsearch. Unknown names are
** left as literal text, as browsers do. */
static const entity entities[] = {
    {"AElig", 0xC6},    {"Aacute", 0xC1},   {"Acirc", 0xC2},
    {"Agrave", 0xC0},   {"Aring", 0xC5},    {"Atilde", 0xC3},
    {"Auml", 0xC4},     {"Ccedil", 0xC7},   {"Dagger", 0x2021},
    {"Delta", 0x394},   {"ETH", 0xD0},      {"Eacute", 0xC9},
    {"Ecirc", 0xCA},    {"Egrave", 0xC8},   {"Euml", 0xCB},
    {"Gamma", 0x393},   {"Iacute", 0xCD},   {"Icirc", 0xCE},
    {"Igrave", 0xCC},   {"Iuml", 0xCF},     {"Lambda", 0x39B},
    {"Ntilde", 0xD1},   {"OElig", 0x152},   {"Oacute", 0xD3},
    {"Ocirc", 0xD4},    {"Ograve", 0xD2},   {"Omega", 0x3A9},
    {"Oslash", 0xD8},   {"Otilde", 0xD5},   {"Ouml", 0xD6},
    {"Phi", 0x3A6},     {"Pi", 0x3A0},      {"Prime", 0x2033},
    {"Psi", 0x3A8},     {"Scaron", 0x160},  {"Sigma", 0x3A3},
    {"THORN", 0xDE},    {"Theta", 0x398},   {"Uacute", 0xDA},
    {"Ucirc", 0xDB},    {"Ugrave", 0xD9},   {"Uuml", 0xDC},
    {"Yacute", 0xDD},   {"Yuml", 0x178},    {"aacute", 0xE1},
    {"acirc", 0xE2},    {"acute", 0xB4},    {"aelig", 0xE6},
    {"agrave", 0xE0},   {"alpha", 0x3B1},   {"amp", 0x26},
    {"apos", 0x27},     {"aring", 0xE5},    {"asymp", 0x2248},
    {"atilde", 0xE3},   {"auml", 0xE4},     {"bdquo", 0x201E},
    {"beta", 0x3B2},    {"brvbar", 0xA6},   {"bull", 0x2022},
    {"cap", 0x2229},    {"ccedil", 0xE7},   {"cedil", 0xB8},
    {"cent", 0xA2},     {"chi", 0x3C7},     {"circ", 0x2C6},
    {"clubs", 0x2663},  {"copy", 0xA9},     {"cup", 0x222A},
    {"curren", 0xA4},   {"dagger", 0x2020}, {"darr", 0x2193},
    {"deg", 0xB0},      {"delta", 0x3B4},   {"diams", 0x2666},
    {"divide", 0xF7},   {"eacute", 0xE9},   {"ecirc", 0xEA},
    {"egrave", 0xE8},   {"empty", 0x2205},  {"emsp", 0x2003},
    {"ensp", 0x2002},   {"epsilon", 0x3B5}, {"equiv", 0x2261},
    {"eta", 0x3B7},     {"eth", 0xF0},      {"euml", 0xEB},
    {"euro", 0x20AC},   {"exist", 0x2203},  {"fnof", 0x192},
    {"forall", 0x2200}, {"frac12", 0xBD},   {"frac14", 0xBC},
    {"frac34", 0xBE},   {"frasl", 0x2044},  {"gamma", 0x3B3},
    {"ge", 0x2265},     {"gt", 0x3E},       {"hArr", 0x21D4},
    {"harr", 0x2194},   {"hearts", 0x2665}, {"hellip", 0x2026},
    {"iacute", 0xED},   {"icirc", 0xEE},    {"iexcl", 0xA1},
    {"igrave", 0xEC},   {"infin", 0x221E},  {"int", 0x222B},
    {"iota", 0x3B9},    {"iquest", 0xBF},   {"isin", 0x2208},
    {"iuml", 0xEF},     {"kappa", 0x3BA},   {"lArr", 0x21D0},
    {"lambda", 0x3BB},  {"laquo", 0xAB},    {"larr", 0x2190},
    {"ldquo", 0x201C},  {"le", 0x2264},     {"loz", 0x25CA},
    {"lrm", 0x200E},    {"lsaquo", 0x2039}, {"lsquo", 0x2018},
    {"lt", 0x3C},       {"macr", 0xAF},     {"mdash", 0x2014},
    {"micro", 0xB5},    {"middot", 0xB7},   {"minus", 0x2212},
    {"mu", 0x3BC},      {"nabla", 0x2207},  {"nbsp", 0xA0},
    {"ndash", 0x2013},  {"ne", 0x2260},     {"not", 0xAC},
    {"ntilde", 0xF1},   {"nu", 0x3BD},      {"oacute", 0xF3},
    {"ocirc", 0xF4},    {"oelig", 0x153},   {"ograve", 0xF2},
    {"oline", 0x203E},  {"omega", 0x3C9},   {"omicron", 0x3BF},
    {"ordf", 0xAA},     {"ordm", 0xBA},     {"oslash", 0xF8},
    {"otilde", 0xF5},   {"ouml", 0xF6},     {"para", 0xB6},
    {"part", 0x2202},   {"permil", 0x2030}, {"phi", 0x3C6},
    {"pi", 0x3C0},      {"plusmn", 0xB1},   {"pound", 0xA3},
    {"prime", 0x2032},  {"prod", 0x220F},   {"psi", 0x3C8},
    {"quot", 0x22},     {"rArr", 0x21D2},   {"radic", 0x221A},
    {"raquo", 0xBB},    {"rarr", 0x2192},   {"rdquo", 0x201D},
    {"reg", 0xAE},      {"rho", 0x3C1},     {"rlm", 0x200F},
    {"rsaquo", 0x203A}, {"rsquo", 0x2019},  {"sbquo", 0x201A},
    {"scaron", 0x161},  {"sect", 0xA7},     {"shy", 0xAD},
    {"sigma", 0x3C3},   {"sigmaf", 0x3C2},  {"spades", 0x2660},
    {"sub", 0x2282},    {"sum", 0x2211},    {"sup", 0x2283},
    {"sup1", 0xB9},     {"sup2", 0xB2},     {"sup3", 0xB3},
    {"szlig", 0xDF},    {"tau", 0x3C4},     {"theta", 0x3B8},
    {"thinsp", 0x2009}, {"thorn", 0xFE},    {"tilde", 0x2DC},
    {"times", 0xD7},    {"trade", 0x2122},  {"uacute", 0xFA},
    {"uarr", 0x2191},   {"ucirc", 0xFB},    {"ugrave", 0xF9},
    {"uml", 0xA8},      {"upsilon", 0x3C5}, {"uuml", 0xFC},
    {"xi", 0x3BE},      {"yacute", 0xFD},   {"yen", 0xA5},
    {"yuml", 0xFF},     {"zeta", 0x3B6},    {"zwj", 0x200D},
    {"zwnj", 0x200C},
};

static int entity_cmp(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const entity *)elem)->name);
}

/* Windows-1252 meanings of &#128;..&#159;, which the HTML standard
** requires (pages written on Windows use them for quotes and dashes). */
static const uint16_t cp1252[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
    0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

/* Decodes the character reference at s[0] == '&'. Returns the bytes
** consumed and sets *cp, or 0 when this is not a reference (a literal
** '&'). Numeric references that are NUL, surrogates or above U+10FFFF
** become U+FFFD. */
static size_t decode_entity(const char *s, size_t n, uint32_t *cp) {
  size_t i = 1;
  if (i < n && s[i] == '#') {
    i++;
    int hex = i < n && (s[i] == 'x' || s[i] == 'X');
    if (hex)
      i++;
    size_t d0 = i;
    uint32_t v = 0;
    for (; i < n; i++) {
      char c = s[i];
      int dv;
      if (c >= '0' && c <= '9')
        dv = c - '0';
      else if (hex && c >= 'a' && c <= 'f')
        dv = c - 'a' + 10;
      else if (hex && c >= 'A' && c <= 'F')
        dv = c - 'A' + 10;
      else
        break;
      if (v <= 0x10FFFF) /* saturate: stays invalid, no overflow */
        v = v * (hex ? 16 : 10) + (uint32_t)dv;
    }
    if (i == d0)
      return 0;
    if (i < n && s[i] == ';')
      i++;
    if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
      v = 0xFFFD;
    else if (v >= 0x80 && v <= 0x9F)
      v = cp1252[v - 0x80];
    *cp = v;
    return i;
  }
  char name[16];
  size_t k = 0;
  while (i < n && k < sizeof(name) - 1 &&
         ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9')))
    name[k++] = s[i++];
  name[k] = '\0';
  if (k == 0 || i >= n || s[i] != ';')
    return 0;
  const entity *e =
      bsearch(name, entities, sizeof(entities) / sizeof(entities[0]),
              sizeof(entities[0]), entity_cmp);
  if (!e)
    return 0;
  *cp = e->cp;
  return i + 1;
}

/* ---- 2. the output writer --------------------------------------------- */

enum { BR_NONE, BR_SPACE, BR_LINE, BR_PARA };

typedef struct hx {
  rag_buf *out;
  size_t base;  /* out->len at entry: breaks are not written before text */
  int pending;  /* strongest break requested since the last text */
  int pre;      /* depth of <pre> */
  int head;     /* inside <head> */
  int heading;  /* 1..6 inside <hN> */
  size_t hmark; /* out->len before the "## " marker of the open heading */
  size_t htext; /* out->len after it */
  char *h1;     /* text of the first <h1> */
  rag_status rc;
} hx;

static void want(hx *h, int br) {
  if (h->heading && br > BR_SPACE)
    br = BR_SPACE; /* a heading must stay on one line */
  if (br > h->pending)
    h->pending = br;
}

static void put(hx *h, const char *p, size_t n) {
  if (h->rc)
    return;
  if (h->pending && h->out->len > h->base) {
    static const char *const sep[] = {"", " ", "\n", "\n\n"};
    h->rc = rag_buf_puts(h->out, sep[h->pending]);
  }
  h->pending = BR_NONE;
  if (!h->rc)
    h->rc = rag_buf_append(h->out, p, n);
}

/* Writes decoded text s[0..n) (no tags inside). */
static void text(hx *h, const char *s, size_t n) {
  size_t i = 0;
  while (i < n && !h->rc) {
    char c = s[i];
    if (c == '&') {
      uint32_t cp;
      size_t l = decode_entity(s + i, n - i, &cp);
      if (l) {
        i += l;
        if (cp == 0xA0 && !h->pre) {
          want(h, BR_SPACE); /* &nbsp; is layout, a space for search */
          continue;
        }
        char u[4];
        put(h, u, rag_utf8_encode(cp, u));
        continue;
      }
    }
    if (!h->pre &&
        (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')) {
      want(h, BR_SPACE);
      i++;
      continue;
    }
    size_t j = i + 1;
    while (j < n && s[j] != '&' && s[j] != ' ' && s[j] != '\t' &&
           s[j] != '\n' && s[j] != '\r' && s[j] != '\f')
      j++;
    put(h, s + i, j - i);
    i = j;
  }
}

/* ---- 3. tags ------------------------------------------------------------ */

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
}

/* Finds needle (ASCII, lowercase) in s[from..n) ignoring case; n if none. */
static size_t find_ci(const char *s, size_t n, size_t from,
                      const char *needle) {
  size_t m = strlen(needle);
  for (size_t i = from; i + m <= n; i++) {
    size_t k = 0;
    while (k < m && lower(s[i + k]) == needle[k])
      k++;
    if (k == m)
      return i;
  }
  return n;
}

typedef enum {
  T_OTHER,
  T_BR,
  T_LINE,
  T_PARA,
  T_LI,
  T_CELL,
  T_H,
  T_PRE,
  T_RAW,
  T_TITLE,
  T_HEAD,
  T_BODY
} tag_kind;

typedef struct tag_info {
  const char *name;
  tag_kind kind;
} tag_info;

static const tag_info tags[] = {
    {"address", T_PARA},  {"article", T_PARA},
    {"aside", T_PARA},    {"blockquote", T_PARA},
    {"body", T_BODY},     {"br", T_BR},
    {"caption", T_LINE},  {"dd", T_LINE},
    {"details", T_PARA},  {"div", T_PARA},
    {"dl", T_PARA},       {"dt", T_LINE},
    {"fieldset", T_PARA}, {"figcaption", T_LINE},
    {"figure", T_PARA},   {"footer", T_PARA},
    {"form", T_PARA},     {"h1", T_H},
    {"h2", T_H},          {"h3", T_H},
    {"h4", T_H},          {"h5", T_H},
    {"h6", T_H},          {"head", T_HEAD},
    {"header", T_PARA},   {"hr", T_PARA},
    {"li", T_LI},         {"main", T_PARA},
    {"nav", T_PARA},      {"noscript", T_RAW},
    {"ol", T_PARA},       {"option", T_LINE},
    {"p", T_PARA},        {"pre", T_PRE},
    {"script", T_RAW},    {"section", T_PARA},
    {"style", T_RAW},     {"summary", T_LINE},
    {"table", T_PARA},    {"td", T_CELL},
    {"template", T_RAW},  {"th", T_CELL},
    {"title", T_TITLE},   {"tr", T_LINE},
    {"ul", T_PARA},
};

static tag_kind kind_of(const char *name) {
  for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
    if (strcmp(tags[i].name, name) == 0)
      return tags[i].kind;
  return T_OTHER;
}

/* Skips a tag's attributes (quotes may hide '>'); returns the offset after
** the closing '>' or n. */
static size_t skip_tag(const char *s, size_t n, size_t i) {
  char q = 0;
  for (; i < n; i++) {
    if (q) {
      if (s[i] == q)
        q = 0;
    } else if (s[i] == '"' || s[i] == '\'') {
      q = s[i];
    } else if (s[i] == '>') {
      return i + 1;
    }
  }
  return n;
}

/* Collapses the whitespace of raw title text into a malloc'd string. */
static char *plain_title(const char *s, size_t n) {
  rag_buf b;
  rag_buf_init(&b, 4096);
  hx t = {&b, 0, BR_NONE, 0, 0, 0, 0, 0, NULL, RAG_OK};
  text(&t, s, n);
  if (t.rc || b.len == 0) {
    rag_buf_free(&b);
    return NULL;
  }
  return rag_buf_detach(&b);
}

static void open_tag(hx *h, tag_kind k, const char *name) {
  switch (k) {
  case T_BR:
    want(h, BR_LINE);
    break;
  case T_LINE:
    want(h, BR_LINE);
    break;
  case T_PARA:
    want(h, BR_PARA);
    break;
  case T_CELL:
    want(h, BR_SPACE);
    break;
  case T_LI:
    want(h, BR_LINE);
    put(h, "-", 1);
    want(h, BR_SPACE);
    break;
  case T_PRE:
    want(h, BR_PARA);
    h->pre++;
    break;
  case T_HEAD:
    h->head = 1;
    break;
  case T_BODY:
    h->head = 0;
    break;
  case T_H:
    if (h->heading)
      break; /* nested headings: keep the outer one */
    want(h, BR_PARA);
    h->hmark = h->out->len; /* before the separator, too */
    put(h, "######", (size_t)(name[1] - '0'));
    h->htext = h->out->len;
    h->heading = name[1] - '0';
    want(h, BR_SPACE);
    break;
  default:
    break;
  }
}

static void close_tag(hx *h, tag_kind k) {
  switch (k) {
  case T_PARA:
  case T_LINE:
  case T_LI:
    want(h, k == T_PARA ? BR_PARA : BR_LINE);
    break;
  case T_PRE:
    if (h->pre)
      h->pre--;
    want(h, BR_PARA);
    break;
  case T_HEAD:
    h->head = 0;
    break;
  case T_H:
    if (!h->heading)
      break;
    if (h->out->len == h->htext && !h->rc) {
      /* Empty heading: take the marker back out. */
      h->out->len = h->hmark;
      h->out->data[h->out->len] = '\0';
    } else if (h->heading == 1 && !h->h1 && h->out->len > h->htext) {
      /* (out->len == htext here when the cap stopped the heading's text) */
      h->h1 =
          rag_strndup(h->out->data + h->htext + 1, h->out->len - h->htext - 1);
    }
    h->heading = 0;
    want(h, BR_PARA);
    break;
  default:
    break;
  }
}

/* ---- 4. ing_html_to_text() ---------------------------------------------- */

rag_status ing_html_to_text(const char *s, size_t n, rag_buf *out, char **title,
                            rag_err *err) {
  hx h = {out, out->len, BR_NONE, 0, 0, 0, 0, 0, NULL, RAG_OK};
  char *ttl = NULL;
  size_t i = 0;
  if (title)
    *title = NULL;
  while (i < n && !h.rc) {
    const char *lt = memchr(s + i, '<', n - i);
    size_t j = lt ? (size_t)(lt - s) : n;
    if (j > i && !h.head)
      text(&h, s + i, j - i);
    i = j;
    if (i >= n)
      break;
    if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
      size_t e = find_ci(s, n, i + 4, "-->");
      i = e < n ? e + 3 : n;
      continue;
    }
    if (n - i >= 9 && memcmp(s + i, "<![CDATA[", 9) == 0) {
      size_t e = find_ci(s, n, i + 9, "]]>");
      i = e < n ? e + 3 : n;
      continue;
    }
    if (n - i >= 2 && (s[i + 1] == '!' || s[i + 1] == '?')) {
      i = skip_tag(s, n, i + 2); /* doctype, processing instruction */
      continue;
    }
    int end = n - i >= 2 && s[i + 1] == '/';
    size_t p = i + 1 + (size_t)end;
    if (p >= n || !((s[p] | 0x20) >= 'a' && (s[p] | 0x20) <= 'z')) {
      if (!h.head)
        text(&h, "<", 1); /* a lone '<' is text */
      i++;
      continue;
    }
    char name[16];
    size_t k = 0;
    while (p < n &&
           (((s[p] | 0x20) >= 'a' && (s[p] | 0x20) <= 'z') ||
            (s[p] >= '0' && s[p] <= '9') || s[p] == '-' || s[p] == ':')) {
      if (k < sizeof(name) - 1)
        name[k++] = (char)(s[p] >= 'A' && s[p] <= 'Z' ? s[p] | 0x20 : s[p]);
      p++;
    }
    name[k] = '\0';
    i = skip_tag(s, n, p);
    tag_kind kind = kind_of(name);
    if (end) {
      close_tag(&h, kind);
      continue;
    }
    if (kind == T_RAW || kind == T_TITLE) {
      /* Raw text: everything up to the matching end tag. */
      char close[20] = "</";
      memcpy(close + 2, name, k + 1);
      size_t e = find_ci(s, n, i, close);
      if (kind == T_TITLE && !ttl)
        ttl = plain_title(s + i, e - i);
      i = e < n ? skip_tag(s, n, e + 2) : n;
      continue;
    }
    open_tag(&h, kind, name);
  }
  if (!h.rc && out->len > h.base && out->data[out->len - 1] != '\n')
    h.rc = rag_buf_putc(out, '\n');
  if (h.rc) {
    free(ttl);
    free(h.h1);
    return rag_fail(err, h.rc, "html: %s converting %zu bytes",
                    rag_status_str(h.rc), n);
  }
  if (title) {
    *title = ttl ? ttl : h.h1;
    if (ttl)
      free(h.h1);
  } else {
    free(ttl);
    free(h.h1);
  }
  return RAG_OK;
}
