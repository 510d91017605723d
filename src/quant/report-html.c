/* The --report file: one self-contained HTML page (inline CSS and SVG, no
 * scripts, nothing fetched). */
#include "report.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void esc(FILE *f, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    default: fputc(*s, f);
    }
  }
}

static double clamp_db(double db) { return isinf(db) ? (db > 0 ? 99 : -99) : db; }

typedef struct {
  double db;
  size_t k;
} ranked;

static int by_sqnr(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  return x->db < y->db ? -1 : x->db > y->db;
}

static void histogram_svg(FILE *f, const ql_qstat *s) {
  double mx = 0;
  for (int b = 0; b < 64; b++) mx = s->hist[b] > mx ? s->hist[b] : mx;
  const int W = 320, H = 90;
  fprintf(f, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"><rect width=\"%d\" height=\"%d\" fill=\"#fafafa\"/>",
          W, H + 14, W, H + 14, W, H);
  for (int b = 0; b < 64 && mx > 0; b++) {
    /* log scale: activations are heavy-tailed */
    double h = log1p(s->hist[b]) / log1p(mx) * (H - 4);
    fprintf(f, "<rect x=\"%d\" y=\"%.1f\" width=\"4\" height=\"%.1f\" fill=\"#4a78b5\"/>", b * 5, H - h, h);
  }
  double lo = s->obs_min, hi = s->obs_max;
  for (int k = 0; k < 2 && hi > lo; k++) {
    double v = k ? s->rmax : s->rmin;
    double x = (v - lo) / (hi - lo) * 320;
    if (x < 0) x = 0;
    if (x > 319) x = 319;
    fprintf(f, "<line x1=\"%.1f\" y1=\"0\" x2=\"%.1f\" y2=\"%d\" stroke=\"#d33\" stroke-width=\"2\"/>", x, x, H);
  }
  fprintf(f, "<text x=\"0\" y=\"%d\" font-size=\"10\">%.4g</text><text x=\"%d\" y=\"%d\" font-size=\"10\" "
             "text-anchor=\"end\">%.4g</text></svg>",
          H + 12, lo, W, H + 12, hi);
}

ql_status ql_qreport_write_html(const ql_qreport *r, const char *path, const char *title, const char *options,
                                ql_error *err) {
  char *tmp = ql_malloc(strlen(path) + 8);
  if (!tmp) return ql_errf(err, QL_ERR_OUT_OF_MEMORY, "out of memory");
  sprintf(tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    ql_free(tmp);
    return ql_errf(err, QL_ERR_IO, "cannot write '%s'", path);
  }
  ranked *idx = ql_malloc(sizeof *idx * (r->n_tensors + 1));
  for (size_t k = 0; idx && k < r->n_tensors; k++)
    idx[k] = (ranked){clamp_db(ql_sqnr_db(r->tensors[k].signal, r->tensors[k].noise)), k};
  if (idx) qsort(idx, r->n_tensors, sizeof *idx, by_sqnr);
  fputs("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>qlinear quantization report</title><style>"
        "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.bad{color:#c00;font-weight:bold}"
        ".grid{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #ddd;padding:6px;font-size:12px}"
        "</style></head><body>\n<h1>qlinear quantization report</h1>\n<p>",
        f);
  esc(f, title);
  fputs("</p><p><code>", f);
  esc(f, options);
  fprintf(f, "</code></p><p>%zu evaluation samples, %zu quantized tensors.</p>\n<h2>Outputs</h2><table><tr><th>output"
             "</th><th>SQNR (dB)</th><th>max abs error</th><th>top-1 agreement</th></tr>\n",
          r->n_samples, r->n_tensors);
  for (size_t j = 0; j < r->n_outputs; j++) {
    const ql_qoutput *o = &r->outputs[j];
    fputs("<tr><td>", f);
    esc(f, o->name);
    fprintf(f, "</td><td>%.2f</td><td>%.4g</td><td>", clamp_db(ql_sqnr_db(o->signal, o->noise)), o->max_abs);
    if (o->top1_total) fprintf(f, "%.2f%% (%zu/%zu)", 100.0 * o->top1_agree / o->top1_total, o->top1_agree, o->top1_total);
    else fputs("-", f);
    fputs("</td></tr>\n", f);
  }
  fputs("</table>\n<h2>SQNR by layer (graph order)</h2>\n<p>Green &ge; 30 dB, orange &ge; 20 dB, red below; grey: "
        "exact (a tensor the quantized model reproduces bit for bit). A tensor that only feeds a Relu or Clip is compared "
        "after that activation.</p>\n", f);
  /* bar chart */
  double lo_db = 0, hi_db = 10;
  for (size_t k = 0; k < r->n_tensors; k++) {
    double d = ql_sqnr_db(r->tensors[k].signal, r->tensors[k].noise);
    if (isinf(d)) continue; /* exact tensors are drawn grey, at the top */
    if (d > hi_db) hi_db = d;
    if (d < lo_db) lo_db = d;
  }
  hi_db = 10 * ceil(hi_db / 10 + 0.5);
  int bw = r->n_tensors > 120 ? 4 : r->n_tensors > 40 ? 8 : 16, H = 220, W = (int)r->n_tensors * (bw + 2) + 60;
  fprintf(f, "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"SQNR by layer\">", W, H + 30);
  for (int db = 0; db <= (int)hi_db; db += 10) {
    double y = H - (db - lo_db) / (hi_db - lo_db) * H;
    fprintf(f, "<line x1=\"40\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"36\" y=\"%.1f\" "
               "font-size=\"10\" text-anchor=\"end\">%d dB</text>",
            W, y, y, y + 3, db);
  }
  for (size_t k = 0; k < r->n_tensors; k++) {
    const ql_qstat *s = &r->tensors[k];
    double raw = ql_sqnr_db(s->signal, s->noise), d = isinf(raw) && raw > 0 ? hi_db : clamp_db(raw);
    if (d < lo_db) d = lo_db;
    double y0 = H - (0 - lo_db) / (hi_db - lo_db) * H, y1 = H - (d - lo_db) / (hi_db - lo_db) * H;
    fprintf(f, "<rect x=\"%zu\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>", 44 + k * (size_t)(bw + 2),
            y1 < y0 ? y1 : y0, bw, fabs(y0 - y1),
            isinf(raw) && raw > 0 ? "#bbb" : d < 20 ? "#d33" : d < 30 ? "#e90" : "#3a3");
    esc(f, s->name);
    if (isinf(raw) && raw > 0) fprintf(f, " (%s): exact</title></rect>", s->op_type);
    else fprintf(f, " (%s): %.2f dB</title></rect>", s->op_type, d);
  }
  fputs("</svg>\n<h2>Worst layers first</h2><table><tr><th>tensor</th><th>producer</th><th>SQNR (dB)</th>"
        "<th>max abs error</th><th>range [min, max]</th></tr>\n",
        f);
  for (size_t i = 0; idx && i < r->n_tensors; i++) {
    const ql_qstat *s = &r->tensors[idx[i].k];
    double d = clamp_db(ql_sqnr_db(s->signal, s->noise));
    fputs("<tr><td>", f);
    esc(f, s->name);
    fputs("</td><td>", f);
    esc(f, s->node);
    if (isinf(ql_sqnr_db(s->signal, s->noise)) && s->noise <= 0)
      fprintf(f, " (%s)</td><td>exact</td><td>0</td><td>[%.4g, %.4g]</td></tr>\n", s->op_type, s->rmin, s->rmax);
    else
      fprintf(f, " (%s)</td><td%s>%.2f</td><td>%.4g</td><td>[%.4g, %.4g]</td></tr>\n", s->op_type,
              d < 20 ? " class=\"bad\"" : "", d, s->max_abs, s->rmin, s->rmax);
  }
  fputs("</table>\n<h2>Activation histograms and chosen ranges (red), worst first</h2><div class=\"grid\">\n", f);
  for (size_t i = 0; idx && i < r->n_tensors && i < 48; i++) {
    const ql_qstat *s = &r->tensors[idx[i].k];
    fputs("<div class=\"card\"><div>", f);
    esc(f, s->name);
    fprintf(f, " &mdash; %.2f dB</div>", clamp_db(ql_sqnr_db(s->signal, s->noise)));
    histogram_svg(f, s);
    fputs("</div>\n", f);
  }
  fputs("</div></body></html>\n", f);
  ql_free(idx);
  int ok = !ferror(f);
  ok &= fclose(f) == 0;
  if (ok && rename(tmp, path)) ok = 0;
  if (!ok) remove(tmp);
  ql_free(tmp);
  return ok ? QL_OK : ql_errf(err, QL_ERR_IO, "cannot write '%s'", path);
}
