/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Face layout from OpenCV Haar cascades (Debian's opencv-data). The cascades
 * are loaded once per process; detection runs under one lock because a
 * CascadeClassifier is not documented as safe for concurrent use.
 */
#include "ditto-face-layout.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

extern "C" void
ditto_face_layout_from_box (DittoFaceLayout * l, float x, float y, float w,
    float h)
{
  /* Average positions inside a Haar frontal-face box. */
  l->face_x = x;
  l->face_y = y;
  l->face_w = w;
  l->face_h = h;
  l->eye_x[0] = x + 0.31f * w;
  l->eye_x[1] = x + 0.69f * w;
  l->eye_y[0] = l->eye_y[1] = y + 0.40f * h;
  l->eye_half_w = 0.085f * w;
  l->eye_half_h = 0.032f * w;
  l->mouth_x = x + 0.5f * w;
  l->mouth_y = y + 0.80f * h;
  l->mouth_half_w = 0.19f * w;
  l->chin_y = y + 1.04f * h;
  l->mouth_curve = 0.0f;
  l->teeth_visible = FALSE;
}

extern "C" void
ditto_face_layout_default (DittoFaceLayout * l, int width, int height)
{
  float s = 0.42f * (float) std::min (width, height);
  ditto_face_layout_from_box (l, 0.5f * width - 0.5f * s, 0.44f * height - 0.5f * s,
      s, s);
  l->detected = FALSE;
}

extern "C" void
ditto_face_layout_scale (DittoFaceLayout * l, float sx, float sy)
{
  l->face_x *= sx;
  l->face_y *= sy;
  l->face_w *= sx;
  l->face_h *= sy;
  for (int i = 0; i < 2; i++) {
    l->eye_x[i] *= sx;
    l->eye_y[i] *= sy;
  }
  l->eye_half_w *= sx;
  l->eye_half_h *= sy;
  l->mouth_x *= sx;
  l->mouth_y *= sy;
  l->mouth_half_w *= sx;
  l->mouth_curve *= sy;
  l->chin_y *= sy;
}

namespace {

struct Cascades {
  cv::CascadeClassifier face, face_alt, eye;
  bool loaded = false;
  std::string dir;
};

std::mutex cascade_lock;
Cascades cascades;

/* Called with cascade_lock held. */
bool
load_cascades (const char *dir)
{
  if (cascades.loaded && cascades.dir == dir)
    return true;
  std::string d (dir);
  Cascades c;
  bool ok = c.face_alt.load (d + "/haarcascade_frontalface_alt2.xml");
  ok = c.face.load (d + "/haarcascade_frontalface_default.xml") || ok;
  if (!ok)
    return false;
  c.eye.load (d + "/haarcascade_eye.xml");   /* optional: geometry otherwise */
  cascades.face = c.face;
  cascades.face_alt = c.face_alt;
  cascades.eye = c.eye;
  cascades.dir = d;
  cascades.loaded = true;
  return true;
}

cv::Rect
largest (const std::vector < cv::Rect > &rects)
{
  cv::Rect best;
  for (const cv::Rect & r:rects)
    if (r.area () > best.area ())
      best = r;
  return best;
}

/* Eye centres inside the upper half of the face, one per side. */
void
refine_eyes (const cv::Mat & gray, DittoFaceLayout * l)
{
  if (cascades.eye.empty ())
    return;
  cv::Rect face ((int) l->face_x, (int) l->face_y, (int) l->face_w,
      (int) l->face_h);
  cv::Rect band (face.x, face.y + (int) (0.15f * face.height), face.width,
      (int) (0.45f * face.height));
  band &= cv::Rect (0, 0, gray.cols, gray.rows);
  if (band.width < 20 || band.height < 10)
    return;
  std::vector < cv::Rect > eyes;
  int min_eye = std::max (8, (int) (0.12f * face.width));
  int max_eye = std::max (min_eye + 1, (int) (0.40f * face.width));
  cascades.eye.detectMultiScale (gray (band), eyes, 1.08, 3, 0,
      cv::Size (min_eye, min_eye), cv::Size (max_eye, max_eye));
  float mid = l->face_x + 0.5f * l->face_w;
  float best_d[2] = { 1e9f, 1e9f };
  float cx[2] = { 0, 0 }, cy[2] = { 0, 0 }, size[2] = { 0, 0 };
  for (const cv::Rect & e:eyes) {
    float ex = band.x + e.x + 0.5f * e.width;
    float ey = band.y + e.y + 0.55f * e.height;
    int side = ex < mid ? 0 : 1;
    /* Prefer the candidate closest to where an eye should be. */
    float d = std::hypot (ex - l->eye_x[side], ey - l->eye_y[side]);
    if (d < best_d[side] && d < 0.22f * l->face_w) {
      best_d[side] = d;
      cx[side] = ex;
      cy[side] = ey;
      size[side] = (float) e.width;
    }
  }
  bool found[2] = { best_d[0] < 1e8f, best_d[1] < 1e8f };
  if (found[0] && found[1]) {
    for (int i = 0; i < 2; i++) {
      l->eye_x[i] = cx[i];
      l->eye_y[i] = cy[i];
    }
    float dist = cx[1] - cx[0];
    l->eye_half_w = std::clamp (0.23f * dist, 0.06f * l->face_w, 0.11f * l->face_w);
    (void) size;
  } else if (found[0] || found[1]) {
    /* Mirror the one eye found across the face's centre line. */
    int i = found[0] ? 0 : 1;
    l->eye_x[i] = cx[i];
    l->eye_y[i] = l->eye_y[1 - i] = cy[i];
    l->eye_x[1 - i] = 2.0f * mid - cx[i];
  }
  l->eye_half_h = 0.38f * l->eye_half_w;
}

/* Mean gray and redness (R - G) of rows y0..y1 over columns x0..x1. */
void
row_profile (const cv::Mat & rgb, int x0, int x1, int y0, int y1,
    std::vector < float >&gray, std::vector < float >&red)
{
  gray.assign (y1 - y0, 0.0f);
  red.assign (y1 - y0, 0.0f);
  for (int y = y0; y < y1; y++) {
    const uchar *p = rgb.ptr < uchar > (y);
    float g = 0, r = 0;
    for (int x = x0; x < x1; x++) {
      g += 0.3f * p[3 * x] + 0.59f * p[3 * x + 1] + 0.11f * p[3 * x + 2];
      r += (float) p[3 * x] - p[3 * x + 1];
    }
    gray[y - y0] = g / (x1 - x0);
    red[y - y0] = r / (x1 - x0);
  }
}

/* How far the lip line rises toward the corners (a smile) or drops (a
 * frown): the darkest row near each corner against the centre. */
float
mouth_curvature (const cv::Mat & rgb, const DittoFaceLayout * l)
{
  float mhw = l->mouth_half_w, rise[2] = { 0, 0 };
  int y0 = std::max (1, (int) (l->mouth_y - 0.5f * mhw));
  int y1 = std::min (rgb.rows - 1, (int) (l->mouth_y + 0.25f * mhw));
  if (y1 - y0 < 4)
    return 0.0f;
  for (int side = 0; side < 2; side++) {
    int cx = (int) (l->mouth_x + (side ? 0.7f : -0.7f) * mhw);
    int x0 = std::max (0, cx - 1), x1 = std::min (rgb.cols, cx + 2);
    if (x1 - x0 < 1)
      return 0.0f;
    std::vector < float >gray, red;
    row_profile (rgb, x0, x1, y0, y1, gray, red);
    float best = 1e9f;
    int best_y = (int) l->mouth_y;
    for (size_t i = 1; i + 1 < gray.size (); i++) {
      float v = (gray[i - 1] + 2 * gray[i] + gray[i + 1]) * 0.25f;
      float off = (y0 + (float) i - l->mouth_y) / (0.3f * mhw);
      float score = v + 6.0f * off * off;
      if (score < best) {
        best = score;
        best_y = y0 + (int) i;
      }
    }
    rise[side] = l->mouth_y - (float) best_y;
  }
  /* Curve of the parabola y = mouth_y - curve * u^2 at u = 0.7. */
  float curve = 0.5f * (rise[0] + rise[1]) / 0.49f;
  return std::clamp (curve, -0.1f * mhw, 0.45f * mhw);
}

/* Lip line: the darkest row between the lips, searched around the position
 * predicted from the eyes, over the middle of the mouth. When the portrait
 * already shows the upper teeth (a smile), the line that opens is the lower
 * edge of those teeth: bright, less red rows just under the dark valley. */
void
refine_mouth (const cv::Mat & rgb, DittoFaceLayout * l)
{
  float eye_y = 0.5f * (l->eye_y[0] + l->eye_y[1]);
  float eye_d = l->eye_x[1] - l->eye_x[0];
  l->mouth_x = 0.5f * (l->eye_x[0] + l->eye_x[1]);
  l->mouth_half_w = 0.42f * eye_d;
  l->teeth_visible = FALSE;
  float predicted = eye_y + 1.05f * eye_d;
  float cur = l->face_y + 0.80f * l->face_h;
  predicted = 0.5f * (predicted + cur);
  int half_w = std::max (2, (int) (0.3f * eye_d));
  int x0 = std::max (0, (int) (l->mouth_x - half_w));
  int x1 = std::min (rgb.cols, (int) (l->mouth_x + half_w));
  int y0 = std::max (1, (int) (predicted - 0.09f * l->face_h));
  int y1 = std::min (rgb.rows - 1, (int) (predicted + 0.12f * l->face_h));
  if (x1 - x0 < 4 || y1 - y0 < 6) {
    l->chin_y = l->mouth_y + 0.78f * (l->mouth_y - eye_y);
    return;
  }
  std::vector < float >gray, red;
  row_profile (rgb, x0, x1, y0, y1, gray, red);
  float mean = 0;
  for (float v:gray)
    mean += v;
  mean /= gray.size ();
  float best = 1e9f;
  int best_i = -1;
  float span = 0.09f * l->face_h;
  for (size_t i = 1; i + 1 < gray.size (); i++) {
    float v = (gray[i - 1] + 2 * gray[i] + gray[i + 1]) * 0.25f;
    float off = (y0 + (float) i - predicted) / span;
    float score = v + 12.0f * off * off;        /* stay near the prediction */
    if (score < best && v < mean - 4.0f) {
      best = score;
      best_i = (int) i;
    }
  }
  l->mouth_y = best_i >= 0 ? (float) (y0 + best_i) + 0.5f : predicted;

  if (best_i >= 0) {
    /* Skin reference: the rows of the window above the valley. */
    float skin_red = 0;
    for (int i = 0; i < std::max (1, best_i / 2); i++)
      skin_red += red[i];
    skin_red /= std::max (1, best_i / 2);
    int max_band = std::max (3, (int) (0.09f * l->face_h));
    int first = -1, last = -1;
    for (int i = best_i + 1; i < (int) gray.size () && i <= best_i + max_band; i++) {
      bool tooth = red[i] < skin_red - 6.0f && gray[i] > gray[best_i] + 20.0f;
      if (tooth) {
        if (first < 0)
          first = i;
        last = i;
      } else if (first >= 0) {
        break;
      }
    }
    int min_rows = std::max (2, (int) (0.025f * l->face_h));
    if (first >= 0 && last - first + 1 >= min_rows) {
      l->teeth_visible = TRUE;
      l->mouth_y = (float) (y0 + last) + 1.0f;
      /* The teeth show how wide the mouth is. */
      int ty = y0 + (first + last) / 2;
      const uchar *p = rgb.ptr < uchar > (ty);
      float skin_r = skin_red;
      int left = (int) l->mouth_x, right = (int) l->mouth_x;
      int limit = (int) (0.7f * eye_d);
      while (left > 0 && l->mouth_x - left < limit
          && (float) p[3 * (left - 1)] - p[3 * (left - 1) + 1] < skin_r - 3.0f)
        left--;
      while (right < rgb.cols - 1 && right - l->mouth_x < limit
          && (float) p[3 * (right + 1)] - p[3 * (right + 1) + 1] < skin_r - 3.0f)
        right++;
      float teeth_half = 0.5f * (right - left);
      l->mouth_half_w = std::clamp (1.15f * teeth_half, 0.5f * eye_d, 0.62f * eye_d);
    }
  }
  l->mouth_curve = mouth_curvature (rgb, l);
  l->chin_y = l->mouth_y + 0.78f * (l->mouth_y - eye_y);
}

}                               /* namespace */

static gboolean
detect_uncached (const guint8 * rgb, int width, int height, int stride,
    const int face_box[4], const char *cascade_dir, DittoFaceLayout * layout,
    gchar ** note)
{
  ditto_face_layout_default (layout, width, height);
  if (note)
    *note = NULL;
  if (!rgb || width < 16 || height < 16) {
    if (note)
      *note = g_strdup ("image too small to find a face; using a centred default layout");
    return FALSE;
  }

  try {
    cv::Mat src (height, width, CV_8UC3, (void *) rgb, stride);
    cv::Mat gray;
    cv::cvtColor (src, gray, cv::COLOR_RGB2GRAY);

    /* Detect on at most ~640 px: faster, and portraits are large faces. */
    double scale = std::min (1.0, 640.0 / std::max (width, height));
    cv::Mat small;
    if (scale < 1.0)
      cv::resize (gray, small, cv::Size (), scale, scale, cv::INTER_AREA);
    else
      small = gray;
    cv::equalizeHist (small, small);

    std::lock_guard < std::mutex > guard (cascade_lock);
    bool have_box = face_box && face_box[2] > 0 && face_box[3] > 0;
    if (!have_box && !load_cascades (cascade_dir)) {
      if (note)
        *note = g_strdup_printf ("cannot load Haar cascades from %s; using a "
            "centred default face layout", cascade_dir);
      return FALSE;
    }
    if (have_box) {
      ditto_face_layout_from_box (layout, (float) face_box[0],
          (float) face_box[1], (float) face_box[2], (float) face_box[3]);
      load_cascades (cascade_dir);      /* eyes, when available */
    } else {
      int min_face = std::max (24, (int) (0.12 * std::min (small.cols, small.rows)));
      std::vector < cv::Rect > faces;
      cascades.face_alt.detectMultiScale (small, faces, 1.1, 4, 0,
          cv::Size (min_face, min_face));
      if (faces.empty () && !cascades.face.empty ())
        cascades.face.detectMultiScale (small, faces, 1.1, 5, 0,
            cv::Size (min_face, min_face));
      if (faces.empty ()) {
        if (note)
          *note = g_strdup ("no face found in the source image; using a "
              "centred default face layout (set face-box to place it)");
        return FALSE;
      }
      cv::Rect f = largest (faces);
      ditto_face_layout_from_box (layout, (float) (f.x / scale),
          (float) (f.y / scale), (float) (f.width / scale),
          (float) (f.height / scale));
    }
    refine_eyes (gray, layout);
    refine_mouth (src, layout);
    layout->detected = TRUE;
    return TRUE;
  }
  catch (const cv::Exception & e) {
    ditto_face_layout_default (layout, width, height);
    if (note)
      *note = g_strdup_printf ("face detection failed (%s); using a centred "
          "default face layout", e.what ());
    return FALSE;
  }
}

extern "C" void
ditto_image_resize_rgb (const guint8 * src, int sw, int sh, int sstride,
    guint8 * dst, int dw, int dh, int dstride)
{
  cv::Mat s (sh, sw, CV_8UC3, (void *) src, sstride);
  cv::Mat d (dh, dw, CV_8UC3, (void *) dst, dstride);
  if (sw == dw && sh == dh)
    s.copyTo (d);
  else
    cv::resize (s, d, d.size (), 0, 0,
        (dw < sw || dh < sh) ? cv::INTER_AREA : cv::INTER_LINEAR);
}

/* A server starts many sessions with the same avatar: detection costs tens
 * of milliseconds of every session start, so results are kept per process,
 * keyed by the pixels themselves (not the path: a file may be replaced). */
namespace {

struct CachedLayout {
  DittoFaceLayout layout;
  gboolean found;
  std::string note;
};

std::mutex layout_cache_lock;
std::unordered_map < std::string, CachedLayout > layout_cache;
constexpr size_t LAYOUT_CACHE_MAX = 64;

std::string
layout_key (const guint8 * rgb, int width, int height, int stride,
    const int face_box[4], const char *cascade_dir)
{
  /* 64-bit FNV-1a over the pixel rows, eight bytes at a time. */
  guint64 h = 1469598103934665603ull;
  for (int y = 0; y < height; y++) {
    const guint8 *row = rgb + (gsize) y * stride;
    int n = width * 3, x = 0;
    for (; x + 8 <= n; x += 8) {
      guint64 w;
      memcpy (&w, row + x, 8);
      h = (h ^ w) * 1099511628211ull;
    }
    for (; x < n; x++)
      h = (h ^ row[x]) * 1099511628211ull;
  }
  gchar *k = g_strdup_printf ("%d:%d:%d,%d,%d,%d:%s:%016" G_GINT64_MODIFIER "x",
      width, height, face_box ? face_box[0] : 0, face_box ? face_box[1] : 0,
      face_box ? face_box[2] : 0, face_box ? face_box[3] : 0,
      cascade_dir ? cascade_dir : "", h);
  std::string key (k);
  g_free (k);
  return key;
}

}                               /* namespace */

extern "C" gboolean
ditto_face_detect (const guint8 * rgb, int width, int height, int stride,
    const int face_box[4], const char *cascade_dir, DittoFaceLayout * layout,
    gchar ** note)
{
  if (!rgb || width < 16 || height < 16)
    return detect_uncached (rgb, width, height, stride, face_box, cascade_dir,
        layout, note);

  std::string key = layout_key (rgb, width, height, stride, face_box,
      cascade_dir);
  {
    std::lock_guard < std::mutex > guard (layout_cache_lock);
    auto it = layout_cache.find (key);
    if (it != layout_cache.end ()) {
      *layout = it->second.layout;
      if (note)
        *note = it->second.note.empty ()? NULL :
            g_strdup (it->second.note.c_str ());
      return it->second.found;
    }
  }

  gchar *fresh_note = NULL;
  gboolean found = detect_uncached (rgb, width, height, stride, face_box,
      cascade_dir, layout, &fresh_note);
  {
    std::lock_guard < std::mutex > guard (layout_cache_lock);
    if (layout_cache.size () >= LAYOUT_CACHE_MAX)
      layout_cache.clear ();
    layout_cache[key] = CachedLayout { *layout, found,
        fresh_note ? std::string (fresh_note) : std::string () };
  }
  if (note)
    *note = fresh_note;
  else
    g_free (fresh_note);
  return found;
}
