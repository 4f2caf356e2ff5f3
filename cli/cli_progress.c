/* cli/cli_progress.c -- The progress bars of `ragd ingest` and `ragd
** compare` (see cli_progress.h).
**
** Divisions of this file:
**   1. durations
**   2. a block of stage bars (cli_bars) */
#include "cli/cli_progress.h"

#include "core/rag.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* ---- 1. durations ---- */

void cli_fmt_eta(double s, char *out, size_t n) {
  if (s < 0 || s > 359999) {
    snprintf(out, n, "--:--");
    return;
  }
  int t = (int)(s + 0.5);
  if (t >= 3600)
    snprintf(out, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(out, n, "%d:%02d", t / 60, t % 60);
}

/* ---- 2. a block of stage bars ---- */

/* A stage row also carries its counts, rate and ETA, and must fit 80
** columns to stay on one line. */
#define ROW_BAR_WIDTH 12
#define ROW_MAX 512 /* bytes of a drawn row, whatever the terminal width */

static void copy_text(char *dst, size_t n, const char *src) {
  if (src)
    snprintf(dst, n, "%s", src);
}

void cli_bars_begin(cli_bars *b, int enabled, FILE *out,
                    const char *const *labels, size_t n) {
  memset(b, 0, sizeof(*b));
  b->enabled = enabled;
  b->out = out ? out : stderr;
  b->n = n < CLI_BARS_MAX ? n : CLI_BARS_MAX;
  for (size_t i = 0; i < b->n; i++)
    copy_text(b->row[i].label, sizeof(b->row[i].label), labels[i]);
  struct winsize ws;
  b->width = 80;
  if (enabled && ioctl(fileno(b->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    b->width = ws.ws_col < ROW_MAX ? ws.ws_col : ROW_MAX;
}

void cli_bars_update(cli_bars *b, size_t i, int64_t done, int64_t total,
                     int exact, const char *unit, const char *note,
                     double now) {
  if (i >= b->n)
    return;
  cli_bar_row *r = &b->row[i];
  if (r->started <= 0)
    r->started = now > 0 ? now : 1e-9;
  r->done = done;
  r->total = total;
  r->exact = exact;
  if (exact && done >= total) {
    if (r->finished <= 0)
      r->finished = now;
  } else {
    r->finished = 0;
  }
  copy_text(r->unit, sizeof(r->unit), unit);
  copy_text(r->note, sizeof(r->note), note);
}

void cli_bar_format(const cli_bar_row *r, double now, char *out, size_t n) {
  double frac =
      r->total > 0 ? (double)r->done / (double)r->total : (r->exact ? 1 : 0);
  if (frac > 1)
    frac = 1;
  if (frac < 0)
    frac = 0;
  char bar[ROW_BAR_WIDTH + 1];
  int fill = (int)(frac * ROW_BAR_WIDTH);
  for (int i = 0; i < ROW_BAR_WIDTH; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[ROW_BAR_WIDTH] = '\0';
  if (r->started <= 0) {
    snprintf(out, n, "%-5s [%s]   0%%  waiting", r->label, bar);
    return;
  }
  const char *sp = r->unit[0] ? " " : "";
  char counts[96];
  if (r->total > 0 || r->exact)
    snprintf(counts, sizeof(counts), "%lld/%s%lld%s%s", (long long)r->done,
             r->exact ? "" : "~", (long long)r->total, sp, r->unit);
  else
    snprintf(counts, sizeof(counts), "%lld%s%s", (long long)r->done, sp,
             r->unit);
  /* The rate is the stage's average since it started: its idle time
  ** between batches counts, which is what makes the ETA honest for a
  ** stage that waits on the one before it. */
  double el = (r->finished > 0 ? r->finished : now) - r->started;
  double rate = el > 0 && r->done > 0 ? (double)r->done / el : 0;
  char rates[64] = "";
  if (rate > 0) /* the unit is in the counts already */
    snprintf(rates, sizeof(rates), "  %.*f/s", rate < 10 ? 1 : 0, rate);
  double left = -1;
  if (r->exact && r->done >= r->total)
    left = 0;
  else if (rate > 0 && r->total > r->done)
    left = (double)(r->total - r->done) / rate;
  char eta[32];
  cli_fmt_eta(left, eta, sizeof(eta));
  snprintf(out, n, "%-5s [%s] %3d%%  %s%s  ETA %s%s%s", r->label, bar,
           (int)(frac * 100), counts, rates, eta, r->note[0] ? "  " : "",
           r->note);
}

void cli_bars_draw(cli_bars *b, int force, double now) {
  if (!b->enabled || !b->n)
    return;
  if (!force && b->drawn && now - b->last < 0.1)
    return; /* redraw at most 10 times a second */
  b->last = now;
  if (b->drawn)
    fprintf(b->out, "\033[%zuA", b->drawn);
  for (size_t i = 0; i < b->n; i++) {
    /* Cut to width - 1: a line that wraps takes two rows and the cursor
    ** would no longer come back to the top of the block. */
    char line[ROW_MAX];
    size_t w =
        (size_t)b->width < sizeof(line) ? (size_t)b->width : sizeof(line);
    cli_bar_format(&b->row[i], now, line, w);
    fprintf(b->out, "\r%s\033[K\n", line);
  }
  b->drawn = b->n;
  fflush(b->out);
}

void cli_bars_break(cli_bars *b) {
  b->drawn = 0;
}

void cli_bars_clear(cli_bars *b) {
  if (b->enabled && b->drawn)
    fprintf(b->out, "\033[%zuA\r\033[J", b->drawn);
  b->drawn = 0;
}
