/* cli/cli_progress.c -- The progress bar of `ragd ingest` and `ragd
** compare`. */
#include "cli/cli_progress.h"

#include "core/rag.h"

#include <stdio.h>
#include <string.h>

#define BAR_WIDTH 30

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

void cli_progress_begin(cli_progress *p, int enabled, const char *label) {
  memset(p, 0, sizeof(*p));
  p->enabled = enabled;
  p->started = rag_now();
  snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
}

void cli_progress_draw(cli_progress *p, double frac, double seconds,
                       const char *counts, double rate, const char *unit) {
  if (!p->enabled)
    return;
  double now = rag_now();
  if (frac < 1 && p->drawn && now - p->last < 0.1)
    return; /* redraw at most 10 times a second */
  p->last = now;
  if (frac > 1)
    frac = 1;
  if (frac < 0)
    frac = 0;
  if (seconds < 0)
    seconds = now - p->started;
  char bar[BAR_WIDTH + 1];
  int fill = (int)(frac * BAR_WIDTH);
  for (int i = 0; i < BAR_WIDTH; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[BAR_WIDTH] = '\0';
  char eta[32], rates[64] = "";
  cli_fmt_eta(frac > 0 ? seconds * (1 - frac) / frac : -1, eta, sizeof(eta));
  if (rate > 0)
    snprintf(rates, sizeof(rates), "  %.0f %s/s", rate, unit ? unit : "");
  fprintf(stderr, "\r%s%s[%s] %3d%%  %s%s  ETA %s \033[K", p->label,
          p->label[0] ? " " : "", bar, (int)(frac * 100), counts ? counts : "",
          rates, eta);
  p->drawn = 1;
}

void cli_progress_end(cli_progress *p) {
  if (p->drawn)
    fputc('\n', stderr);
  p->drawn = 0;
}
