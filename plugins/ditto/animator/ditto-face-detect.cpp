/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Face layout: dlib's HOG face detector and 68-point shape predictor
 * (Debian's libdlib-dev and libdlib-data), OpenCV Haar cascades (Debian's
 * opencv-data) where dlib finds no face. Models load once per process;
 * detection runs under locks because neither library documents its
 * detectors as safe for concurrent use.
 */
#include "ditto-face-layout.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "ditto-frontal-face-detector.h"
#include "ditto-landmark-model.h"
#ifndef DITTO_LANDMARK_MODEL
#define DITTO_LANDMARK_MODEL "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
#endif

/* dlib's mean shape of the 68 landmarks (initial_shape of
 * shape_predictor_68_face_landmarks.dat) in the coordinates of its HOG
 * detector's box, [0,1] = box edges. Used when the model file is missing and
 * where a fit fails. */
static const float kMeanShape[DITTO_FACE_N_LANDMARKS][2] = {
  {0.0294f, 0.3219f}, {0.0326f, 0.4464f}, {0.0459f, 0.5704f}, {0.0718f, 0.6920f},
  {0.1203f, 0.8050f}, {0.1947f, 0.9029f}, {0.2858f, 0.9846f}, {0.3863f, 1.0502f},
  {0.5000f, 1.0697f}, {0.6137f, 1.0502f}, {0.7142f, 0.9846f}, {0.8053f, 0.9029f},
  {0.8797f, 0.8050f}, {0.9282f, 0.6920f}, {0.9541f, 0.5704f}, {0.9674f, 0.4464f},
  {0.9706f, 0.3219f}, {0.1192f, 0.2309f}, {0.1775f, 0.1784f}, {0.2598f, 0.1627f},
  {0.3451f, 0.1749f}, {0.4249f, 0.2081f}, {0.5751f, 0.2081f}, {0.6550f, 0.1749f},
  {0.7402f, 0.1627f}, {0.8225f, 0.1784f}, {0.8809f, 0.2309f}, {0.5000f, 0.3055f},
  {0.5000f, 0.3857f}, {0.5000f, 0.4652f}, {0.5000f, 0.5470f}, {0.4045f, 0.6023f},
  {0.4504f, 0.6192f}, {0.5000f, 0.6337f}, {0.5497f, 0.6192f}, {0.5955f, 0.6023f},
  {0.2139f, 0.3156f}, {0.2647f, 0.2863f}, {0.3259f, 0.2872f}, {0.3794f, 0.3276f},
  {0.3221f, 0.3378f}, {0.2612f, 0.3370f}, {0.6207f, 0.3276f}, {0.6742f, 0.2872f},
  {0.7353f, 0.2863f}, {0.7862f, 0.3156f}, {0.7388f, 0.3370f}, {0.6780f, 0.3378f},
  {0.3171f, 0.7511f}, {0.3844f, 0.7242f}, {0.4525f, 0.7103f}, {0.5000f, 0.7220f},
  {0.5475f, 0.7103f}, {0.6156f, 0.7242f}, {0.6829f, 0.7511f}, {0.6178f, 0.8169f},
  {0.5516f, 0.8460f}, {0.5000f, 0.8515f}, {0.4484f, 0.8460f}, {0.3823f, 0.8169f},
  {0.3452f, 0.7547f}, {0.4519f, 0.7520f}, {0.5000f, 0.7560f}, {0.5481f, 0.7520f},
  {0.6548f, 0.7547f}, {0.5481f, 0.7540f}, {0.5000f, 0.7580f}, {0.4519f, 0.7540f},
};

static inline float
mid2 (const DittoFaceLayout * l, int a, int b, int axis)
{
  return 0.5f * (l->lm[a][axis] + l->lm[b][axis]);
}

extern "C" void
ditto_face_layout_derive (DittoFaceLayout * l)
{
  for (int e = 0; e < 2; e++) {
    int b = e ? 42 : 36;
    float sx = 0, sy = 0;
    for (int i = 0; i < 6; i++) {
      sx += l->lm[b + i][0];
      sy += l->lm[b + i][1];
    }
    l->eye_x[e] = sx / 6;
    l->eye_y[e] = sy / 6;
  }
  float ew = 0.25f * (std::hypot (l->lm[39][0] - l->lm[36][0], l->lm[39][1] - l->lm[36][1])
      + std::hypot (l->lm[45][0] - l->lm[42][0], l->lm[45][1] - l->lm[42][1]));
  float eh = 0.125f * ((l->lm[41][1] - l->lm[37][1]) + (l->lm[40][1] - l->lm[38][1])
      + (l->lm[47][1] - l->lm[43][1]) + (l->lm[46][1] - l->lm[44][1]));
  l->eye_half_w = std::max (ew, 1.0f);
  l->eye_half_h = std::max (eh, 0.3f);
  l->mouth_x = mid2 (l, 62, 66, 0);
  l->mouth_y = mid2 (l, 62, 66, 1);
  l->mouth_gap = std::max (0.0f, l->lm[66][1] - l->lm[62][1]);
  l->mouth_half_w = std::max (1.0f, 0.5f * std::hypot (l->lm[54][0] - l->lm[48][0],
          l->lm[54][1] - l->lm[48][1]));
  l->mouth_curve = l->mouth_y - mid2 (l, 48, 54, 1);
  l->chin_y = l->lm[8][1];
}

extern "C" void
ditto_face_layout_from_box (DittoFaceLayout * l, float x, float y, float w,
    float h)
{
  l->face_x = x;
  l->face_y = y;
  l->face_w = w;
  l->face_h = h;
  for (int i = 0; i < DITTO_FACE_N_LANDMARKS; i++) {
    l->lm[i][0] = x + kMeanShape[i][0] * w;
    l->lm[i][1] = y + kMeanShape[i][1] * h;
  }
  l->teeth_visible = FALSE;
  l->source = DITTO_FACE_SOURCE_TEMPLATE;
  ditto_face_layout_derive (l);
}

extern "C" void
ditto_face_layout_default (DittoFaceLayout * l, int width, int height)
{
  float s = 0.36f * (float) std::min (width, height);
  ditto_face_layout_from_box (l, 0.5f * width - 0.5f * s, 0.42f * height - 0.5f * s,
      s, s);
  l->detected = FALSE;
  l->source = DITTO_FACE_SOURCE_DEFAULT;
}

extern "C" void
ditto_face_layout_scale (DittoFaceLayout * l, float sx, float sy)
{
  l->face_x *= sx;
  l->face_y *= sy;
  l->face_w *= sx;
  l->face_h *= sy;
  for (int i = 0; i < DITTO_FACE_N_LANDMARKS; i++) {
    l->lm[i][0] *= sx;
    l->lm[i][1] *= sy;
  }
  ditto_face_layout_derive (l);
}

extern "C" const char *
ditto_face_landmark_model (void)
{
  const char *env = g_getenv ("DITTO_LANDMARK_MODEL");
  return env && *env ? env : DITTO_LANDMARK_MODEL;
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

}                               /* namespace */

namespace {

}                               /* namespace */

/* The landmark model converted at build time (ditto-landmark-model.S; empty
 * when the build machine had no model). */
extern "C" const unsigned char ditto_landmark_model_data[];
extern "C" const unsigned char ditto_landmark_model_end[];

namespace {

/* dlib's shape predictor over the flat, read-only model: the same cascade
 * as dlib::shape_predictor::operator() (dlib's own feature extraction, the
 * same tree walk and sums), without deserialising 99 MB first. */
struct FlatPredictor {
  const DittoLandmarkModelHeader *h = nullptr;
  dlib::matrix < float, 0, 1 > initial_shape;
  std::vector < std::vector < unsigned long > > anchor_idx;
  std::vector < std::vector < dlib::vector < float, 2 > > > deltas;
  const unsigned char *trees = nullptr;
  size_t tree_size = 0;

  bool load (const unsigned char *p, size_t n)
  {
    if (n < sizeof *h || memcmp (p, DITTO_LANDMARK_MODEL_MAGIC, 8) != 0)
      return false;
    h = (const DittoLandmarkModelHeader *) p;
    tree_size = h->n_splits * sizeof (DittoLandmarkSplit)
        + (size_t) (h->n_splits + 1) * h->n_coords * sizeof (float);
    size_t feat = 3 * sizeof (float);
    if (n != sizeof *h + h->n_coords * sizeof (float)
        + (size_t) h->n_cascades * h->n_features * feat
        + (size_t) h->n_cascades * h->n_trees * tree_size)
      return false;
    const unsigned char *q = p + sizeof *h;
    initial_shape.set_size (h->n_coords);
    for (uint32_t i = 0; i < h->n_coords; i++, q += sizeof (float))
      memcpy (&initial_shape (i), q, sizeof (float));
    anchor_idx.assign (h->n_cascades, {});
    deltas.assign (h->n_cascades, {});
    for (uint32_t c = 0; c < h->n_cascades; c++)
      for (uint32_t i = 0; i < h->n_features; i++, q += feat) {
        uint32_t a;
        float d[2];
        memcpy (&a, q, sizeof a);
        memcpy (d, q + sizeof a, sizeof d);
        if (a >= h->n_coords / 2)
          return false;
        anchor_idx[c].push_back (a);
        deltas[c].push_back (dlib::vector < float, 2 > (d[0], d[1]));
      }
    trees = q;
    return true;
  }

  unsigned long num_parts () const
  {
    return h ? h->n_coords / 2 : 0;
  }

  dlib::full_object_detection operator () (const dlib::array2d <
      unsigned char >&img, const dlib::rectangle & rect) const
  {
    dlib::matrix < float, 0, 1 > shape = initial_shape;
    std::vector < float >px;
    const unsigned char *t = trees;
    for (uint32_t c = 0; c < h->n_cascades; c++) {
      dlib::impl::extract_feature_pixel_values (img, rect, shape,
          initial_shape, anchor_idx[c], deltas[c], px);
      for (uint32_t k = 0; k < h->n_trees; k++, t += tree_size) {
        const DittoLandmarkSplit *s = (const DittoLandmarkSplit *) t;
        uint32_t i = 0;
        while (i < h->n_splits) {
          if (s[i].idx1 >= px.size () || s[i].idx2 >= px.size ())
            return dlib::full_object_detection (rect);
          i = px[s[i].idx1] - px[s[i].idx2] > s[i].thresh ? 2 * i + 1 : 2 * i + 2;
        }
        const float *leaf = (const float *) (t + h->n_splits *
            sizeof (DittoLandmarkSplit)) + (size_t) (i - h->n_splits) * h->n_coords;
        for (uint32_t j = 0; j < h->n_coords; j++)
          shape (j) += leaf[j];
      }
    }
    const dlib::point_transform_affine to_img =
        dlib::impl::unnormalizing_tform (rect);
    std::vector < dlib::point > parts (h->n_coords / 2);
    for (size_t i = 0; i < parts.size (); i++)
      parts[i] = to_img (dlib::impl::location (shape, i));
    return dlib::full_object_detection (rect, parts);
  }
};

/* dlib's detector and landmark model, built or loaded once per process and
 * used under one lock (neither is documented as safe for concurrent use).
 * The landmark model is the flat one linked in, unless DITTO_LANDMARK_MODEL
 * names a file (read with dlib) or the build had none. */
struct Dlib {
  bool ready = false;
  dlib::frontal_face_detector detector;
  dlib::shape_predictor predictor;
  FlatPredictor flat;
  bool use_flat = false;
  bool have_model = false;
  std::string model_path, model_error;

  dlib::full_object_detection fit (const dlib::array2d < unsigned char >&img,
      const dlib::rectangle & box) const
  {
    return use_flat ? flat (img, box) : predictor (img, box);
  }
};

std::mutex dlib_lock;
Dlib dl;

/* A gray cv::Mat as dlib's image type (a copy: dlib's OpenCV adaptor
 * differs between dlib versions). */
void
to_dlib (const cv::Mat & gray, dlib::array2d < unsigned char >&img)
{
  img.set_size (gray.rows, gray.cols);
  for (int y = 0; y < gray.rows; y++)
    memcpy (&img[y][0], gray.ptr < unsigned char >(y), gray.cols);
}

/* Called with dlib_lock held. */
void
dlib_init (void)
{
  std::string path = ditto_face_landmark_model ();
  if (dl.ready && dl.model_path == path)
    return;
  if (!dl.ready) {
    std::istringstream in (std::string ((const char *) kFrontalFaceDetector,
            sizeof kFrontalFaceDetector));
    dlib::deserialize (dl.detector, in);
  }
  dl.ready = true;
  dl.model_path = path;
  dl.have_model = false;
  dl.use_flat = false;
  dl.model_error.clear ();
  const char *env = g_getenv ("DITTO_LANDMARK_MODEL");
  if (!(env && *env) && dl.flat.load (ditto_landmark_model_data,
          ditto_landmark_model_end - ditto_landmark_model_data)) {
    dl.use_flat = true;
    dl.have_model = dl.flat.num_parts () == DITTO_FACE_N_LANDMARKS;
    if (!dl.have_model)
      dl.model_error = "not a 68-point model";
    return;
  }
  /* A missing file is the common failure: no exception for it (an
   * exception thrown here would also be a slow path under memcheck). */
  if (!g_file_test (path.c_str (), G_FILE_TEST_IS_REGULAR)) {
    dl.model_error = "no such file";
  } else {
    try {
      dlib::deserialize (path) >> dl.predictor;
      dl.have_model = dl.predictor.num_parts () == DITTO_FACE_N_LANDMARKS;
      if (!dl.have_model)
        dl.model_error = "not a 68-point model";
    }
    catch (const std::exception & e) {
      dl.model_error = e.what ();
    }
  }
}

/* A face candidate in full-image coordinates: its box and, when it was
 * found in a turned copy of the image, the turn. */
struct Candidate {
  double x = 0, y = 0, w = 0, h = 0;
  double angle = 0;             /* radians, the image was turned by -angle */
  bool found = false;
};

/* The turn of (x, y) by angle about (cx, cy). */
inline void
turn (double angle, double cx, double cy, double x, double y, double *ox,
    double *oy)
{
  double c = std::cos (angle), s = std::sin (angle);
  *ox = cx + c * (x - cx) - s * (y - cy);
  *oy = cy + s * (x - cx) + c * (y - cy);
}

/* The largest face dlib's HOG detector sees in gray scaled by `scale` and
 * turned by `angle` about the image centre. */
Candidate
dlib_detect (const cv::Mat & gray, double scale, double angle)
{
  Candidate best;
  cv::Mat img;
  cv::resize (gray, img, cv::Size (), scale, scale,
      scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
  cv::Point2f centre (0.5f * img.cols, 0.5f * img.rows);
  if (angle != 0.0) {
    cv::Mat rot = cv::getRotationMatrix2D (centre, angle * 180.0 / M_PI, 1.0);
    cv::warpAffine (img, img, rot, img.size (), cv::INTER_LINEAR,
        cv::BORDER_REPLICATE);
  }
  dlib::array2d < unsigned char >dimg;
  to_dlib (img, dimg);
  std::vector < dlib::rect_detection > faces;
  dl.detector (dimg, faces, 0.0);
  /* The largest confident face: a weak detection (a badge, a pattern)
   * never wins over a clear one for its size alone. */
  double top = -1e9;
  for (const dlib::rect_detection & d:faces)
    top = std::max (top, d.detection_confidence);
  for (const dlib::rect_detection & d:faces) {
    const dlib::rectangle & f = d.rect;
    if (g_getenv ("DITTO_FACE_DEBUG"))
      g_printerr ("dlib face %ld,%ld %lux%lu score %.2f (scale %.2f angle %.2f)\n",
          f.left (), f.top (), f.width (), f.height (), d.detection_confidence,
          scale, angle);
    if (d.detection_confidence < std::min (0.5, top - 0.6)
        || f.area () <= best.w * best.h * scale * scale)
      continue;
    /* The box centre back in the unturned, unscaled image. */
    double cx, cy;
    turn (-angle, centre.x, centre.y, 0.5 * (f.left () + f.right ()),
        0.5 * (f.top () + f.bottom ()), &cx, &cy);
    best.w = f.width () / scale;
    best.h = f.height () / scale;
    best.x = cx / scale - 0.5 * best.w;
    best.y = cy / scale - 0.5 * best.h;
    best.angle = angle;
    best.found = true;
  }
  return best;
}

/* Landmarks of the face in `c`: the model runs on the face turned upright
 * (a crop of the full-resolution image), so tilted heads fit as well as
 * straight ones. Without the model the mean shape goes into the box. */
void
fit_landmarks (const cv::Mat & gray, const Candidate & c, DittoFaceLayout * l)
{
  ditto_face_layout_from_box (l, (float) c.x, (float) c.y, (float) c.w,
      (float) c.h);
  if (!dl.have_model)
    return;
  /* An upright crop of twice the box, at most 400 px across the face. */
  double fcx = c.x + 0.5 * c.w, fcy = c.y + 0.5 * c.h;
  double k = std::min (1.0, 400.0 / std::max (c.w, 1.0));
  int side = std::max (16, (int) std::lround (2.0 * c.w * k));
  cv::Mat m = cv::getRotationMatrix2D (cv::Point2f ((float) fcx, (float) fcy),
      c.angle * 180.0 / M_PI, k);
  m.at < double >(0, 2) += 0.5 * side - fcx;
  m.at < double >(1, 2) += 0.5 * side - fcy;
  cv::Mat crop;
  cv::warpAffine (gray, crop, m, cv::Size (side, side), cv::INTER_LINEAR,
      cv::BORDER_REPLICATE);
  dlib::array2d < unsigned char >dimg;
  to_dlib (crop, dimg);
  double bw = c.w * k, bh = c.h * k;
  dlib::rectangle box ((long) std::lround (0.5 * side - 0.5 * bw),
      (long) std::lround (0.5 * side - 0.5 * bh),
      (long) std::lround (0.5 * side + 0.5 * bw) - 1,
      (long) std::lround (0.5 * side + 0.5 * bh) - 1);
  dlib::full_object_detection shape = dl.fit (dimg, box);
  cv::Mat inv;
  cv::invertAffineTransform (m, inv);
  for (int i = 0; i < DITTO_FACE_N_LANDMARKS; i++) {
    double px = shape.part (i).x (), py = shape.part (i).y ();
    l->lm[i][0] = (float) (inv.at < double >(0, 0) * px + inv.at < double >(0, 1) * py
        + inv.at < double >(0, 2));
    l->lm[i][1] = (float) (inv.at < double >(1, 0) * px + inv.at < double >(1, 1) * py
        + inv.at < double >(1, 2));
  }
  ditto_face_layout_derive (l);
}

/* Landmarks that make a face: eyes apart and level-ish, nose under them,
 * mouth under the nose, chin under the mouth, all near the box. A fit on a
 * box that holds no real face (a Haar false positive, a drawing the model
 * does not understand) fails this. */
bool
plausible (const DittoFaceLayout * l)
{
  float w = l->face_w;
  float dx = l->eye_x[1] - l->eye_x[0], dy = l->eye_y[1] - l->eye_y[0];
  float eye_d = std::hypot (dx, dy);
  if (dx <= 0 || eye_d < 0.25f * w || eye_d > 0.75f * w || std::fabs (dy) > 0.6f * dx)
    return false;
  /* Down the face: along the normal of the eye line. */
  float nx = -dy / eye_d, ny = dx / eye_d;
  float ex = 0.5f * (l->eye_x[0] + l->eye_x[1]), ey = 0.5f * (l->eye_y[0] + l->eye_y[1]);
  auto down = [&](int i) { return (l->lm[i][0] - ex) * nx + (l->lm[i][1] - ey) * ny; };
  float nose = down (33), mouth = (down (62) + down (66)) * 0.5f, chin = down (8);
  if (!(nose > 0.2f * eye_d && mouth > nose && chin > mouth + 0.1f * eye_d
          && chin < 2.6f * eye_d))
    return false;
  if (l->mouth_half_w < 0.2f * eye_d || l->mouth_half_w > 0.9f * eye_d)
    return false;
  return true;
}

/* Whether the portrait's open mouth shows teeth: bright, unsaturated pixels
 * between the inner lips. */
bool
shows_teeth (const cv::Mat & rgb, const DittoFaceLayout * l)
{
  if (l->mouth_gap < std::max (2.0f, 0.03f * l->face_h))
    return false;
  int x0 = (int) (l->lm[61][0]), x1 = (int) (l->lm[63][0]);
  int y0 = (int) (l->lm[62][1] + 1), y1 = (int) (l->lm[66][1]);
  x0 = std::clamp (x0, 0, rgb.cols - 1);
  x1 = std::clamp (x1, x0 + 1, rgb.cols);
  y0 = std::clamp (y0, 0, rgb.rows - 1);
  y1 = std::clamp (y1, y0 + 1, rgb.rows);
  int bright = 0, n = 0;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      const uchar *p = rgb.ptr < uchar > (y) + 3 * x;
      int mx = std::max ({ p[0], p[1], p[2] }), mn = std::min ({ p[0], p[1], p[2] });
      bright += mx > 140 && mx - mn < 60;
      n++;
    }
  return n > 0 && bright * 4 >= n;
}

/* Haar cascades find a box when dlib's detector does not (drawings,
 * paintings, low contrast). */
bool
haar_detect (const cv::Mat & gray, const char *cascade_dir, Candidate * out,
    std::string * why)
{
  std::lock_guard < std::mutex > guard (cascade_lock);
  if (!load_cascades (cascade_dir)) {
    *why = std::string ("cannot load Haar cascades from ") + cascade_dir;
    return false;
  }
  double scale = std::min (1.0, 640.0 / std::max (gray.cols, gray.rows));
  cv::Mat small;
  cv::resize (gray, small, cv::Size (), scale, scale, cv::INTER_AREA);
  cv::equalizeHist (small, small);
  int min_face = std::max (24, (int) (0.08 * std::min (small.cols, small.rows)));
  std::vector < cv::Rect > faces;
  cascades.face_alt.detectMultiScale (small, faces, 1.1, 4, 0,
      cv::Size (min_face, min_face));
  if (faces.empty () && !cascades.face.empty ())
    cascades.face.detectMultiScale (small, faces, 1.1, 5, 0,
        cv::Size (min_face, min_face));
  if (faces.empty ())
    return false;
  cv::Rect f = largest (faces);
  /* A Haar frontal-face box reaches higher (forehead) than dlib's and is a
   * little larger; measured on a photo and a drawing where both fire. */
  double w = f.width / scale, h = f.height / scale;
  out->x = f.x / scale + 0.025 * w;
  out->y = f.y / scale + 0.155 * h;
  out->w = 0.95 * w;
  out->h = 0.95 * h;
  out->angle = 0;
  out->found = true;
  return true;
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

    std::lock_guard < std::mutex > guard (dlib_lock);
    dlib_init ();
    std::string model_note;
    if (!dl.have_model)
      model_note = "landmark model " + dl.model_path + " unusable (" +
          dl.model_error + "; install libdlib-data); face shape is the "
          "average one";

    Candidate c;
    DittoFaceSource source = DITTO_FACE_SOURCE_DLIB;
    bool have_box = face_box && face_box[2] > 0 && face_box[3] > 0;
    if (have_box) {
      c.x = face_box[0];
      c.y = face_box[1];
      c.w = face_box[2];
      c.h = face_box[3];
      c.found = true;
      source = DITTO_FACE_SOURCE_BOX;
    } else {
      /* Portraits first (a large face: detect small), then small faces in
       * wide frames (detect at up to twice the size), then tilted heads. */
      int big = std::max (width, height);
      double s1 = std::min (1.0, 720.0 / big);
      c = dlib_detect (gray, s1, 0.0);
      double s2 = std::min (2.0, 2400.0 / big);
      if (!c.found && s2 > 1.3 * s1)
        c = dlib_detect (gray, s2, 0.0);
      for (double a : { 0.38, -0.38 }) {
        if (!c.found)
          c = dlib_detect (gray, s1, a);
      }
    }
    std::string haar_why;
    if (!c.found && haar_detect (gray, cascade_dir, &c, &haar_why))
      source = DITTO_FACE_SOURCE_HAAR;
    if (!c.found) {
      if (note)
        *note = g_strdup_printf ("no face found in the source image%s%s; using "
            "a centred default face layout (set face-box to place it)",
            haar_why.empty ()? "" : ", ", haar_why.c_str ());
      return FALSE;
    }

    fit_landmarks (gray, c, layout);
    layout->source = dl.have_model ? source : DITTO_FACE_SOURCE_TEMPLATE;
    if (dl.have_model && !plausible (layout)) {
      /* The box is trusted, the fit is not: the average shape in the box. */
      ditto_face_layout_from_box (layout, (float) c.x, (float) c.y,
          (float) c.w, (float) c.h);
      layout->source = DITTO_FACE_SOURCE_TEMPLATE;
    }
    layout->teeth_visible = shows_teeth (src, layout);
    layout->detected = TRUE;
    if (note && !model_note.empty ())
      *note = g_strdup (model_note.c_str ());
    return TRUE;
  }
  catch (const std::exception & e) {
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
  gchar *k = g_strdup_printf ("%d:%d:%d,%d,%d,%d:%s:%s:%016" G_GINT64_MODIFIER "x",
      width, height, face_box ? face_box[0] : 0, face_box ? face_box[1] : 0,
      face_box ? face_box[2] : 0, face_box ? face_box[3] : 0,
      cascade_dir ? cascade_dir : "", ditto_face_landmark_model (), h);
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
