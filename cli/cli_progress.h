/* cli/cli_progress.h -- A one-line progress bar on stderr:
**   "embed  [######........................]  20%  docs 200/1000  ...
**    412 chunks/s  ETA 0:07"
** redrawn in place with '\r' at most 10 times a second. Drawn only when
** enabled (the caller passes isatty(2) && !json): a log file or a pipe
** gets nothing.
** Ownership: a cli_progress is a caller-owned value; nothing allocated.
** Threads:   one thread (the CLI's). */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <stddef.h>

typedef struct cli_progress {
  int enabled;    /* draw at all */
  int drawn;      /* a line is on screen without its newline */
  double started; /* rag_now() at begin, for the rate and the ETA */
  double last;    /* last redraw */
  char label[24]; /* stage name, left column */
} cli_progress;

/* Starts a stage: remembers the label and the start time. */
void cli_progress_begin(cli_progress *p, int enabled, const char *label);

/* Redraws: frac in [0, 1] fills the bar and gives the ETA (from the time
** since begin, or from `seconds` when >= 0); `counts` (may be NULL) is free
** text such as "docs 200/1000"; rate > 0 is printed as "<rate> <unit>/s".
** Skipped when the last redraw was under 0.1 s ago, unless frac >= 1. */
void cli_progress_draw(cli_progress *p, double frac, double seconds,
                       const char *counts, double rate, const char *unit);

/* Ends the line (a newline when something is drawn). Call before printing
** anything else to stderr, and at the end of the stage. */
void cli_progress_end(cli_progress *p);

/* "m:ss", "h:mm:ss", or "--:--" for s < 0 or over 99 hours. */
void cli_fmt_eta(double s, char *out, size_t n);

#endif
