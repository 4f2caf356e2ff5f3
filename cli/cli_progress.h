/* cli/cli_progress.h -- Progress bars on stderr: a block of up to
** CLI_BARS_MAX lines, one per stage (`ragd ingest`: chunk, embed, index;
** `ragd compare` adds query), each with its own count, rate and ETA:
**   chunk [########....]  72%  1083/~1491 chunks  372/s  ETA 0:01
**   embed [######......]  54%  819/~1491 chunks  320/s  ETA 0:02
**   index [######......]  54%  819/~1491 chunks  354/s  ETA 0:02  768 docs
** ("~": an estimated total), redrawn in place by moving the cursor up (ANSI
** "ESC[nA") at most 10 times a second. Each line is cut to the terminal's
** width so that none wraps and the cursor arithmetic holds.
** It draws only when enabled (the caller passes isatty(2) && !json): a
** log file or a pipe gets nothing.
** Ownership: caller-owned values; nothing allocated.
** Threads:   one thread (the CLI's). */
#ifndef CLI_PROGRESS_H
#define CLI_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "m:ss", "h:mm:ss", or "--:--" for s < 0 or over 99 hours. */
void cli_fmt_eta(double s, char *out, size_t n);

#define CLI_BARS_MAX 4

typedef struct cli_bar_row {
  char label[16];  /* "chunk" */
  char unit[16];   /* "chunks"; "" = none */
  char note[64];   /* free text after the ETA; "" = none */
  int64_t done;    /* units through this stage */
  int64_t total;   /* units expected; 0 and !exact = not known yet */
  int exact;       /* total is final; else shown as "~total" */
  double started;  /* time of the row's first update; 0 = none yet */
  double finished; /* when done reached an exact total; 0 = not yet */
} cli_bar_row;

typedef struct cli_bars {
  int enabled;  /* draw at all */
  FILE *out;    /* where to draw: stderr, or a test's file */
  int width;    /* terminal columns (80 when out is no terminal) */
  size_t n;     /* rows */
  size_t drawn; /* rows of the block on screen, just above the cursor */
  double last;  /* time of the last draw */
  cli_bar_row row[CLI_BARS_MAX];
} cli_bars;

/* Starts a block of n rows (at most CLI_BARS_MAX; more are ignored)
** labelled labels[0..n), all empty. Nothing is drawn yet. */
void cli_bars_begin(cli_bars *b, int enabled, FILE *out,
                    const char *const *labels, size_t n);

/* Sets row i's counts (see cli_bar_row; unit and note may be NULL = keep
** the previous). The row's clock, from which its rate (done / time since
** its first update, until done reaches an exact total) and ETA ((total -
** done) / rate) come, starts at its first update: update a stage with
** done = 0 when it starts working. A row never updated shows "waiting".
** now is rag_now() (a parameter so that tests control the clock). */
void cli_bars_update(cli_bars *b, size_t i, int64_t done, int64_t total,
                     int exact, const char *unit, const char *note, double now);

/* Redraws the block in place; skipped when the last draw was under 0.1 s
** ago unless force. */
void cli_bars_draw(cli_bars *b, int force, double now);

/* Leaves the block where it is: the next draw starts a new block below.
** For the end of a phase, whose final bars stay in the scrollback. */
void cli_bars_break(cli_bars *b);

/* Erases the block (cursor up, ESC[J) so that a message printed next
** takes its place; the next draw puts the block back below the message.
** Call before printing anything else to stderr while the block shows. */
void cli_bars_clear(cli_bars *b);

/* One row as drawn, without the cursor moves and the newline, cut to
** n - 1 bytes. */
void cli_bar_format(const cli_bar_row *r, double now, char *out, size_t n);

#endif
