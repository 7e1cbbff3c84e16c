/* GValue <-> JS conversions for properties, bus messages and stats.
 * JS thread only. */
#include "dg.h"

#include <math.h>

#define MAX_SAFE_INT 9007199254740991.0

/* Property reads keep 64-bit precision (bigint beyond 2^53); structures
 * (bus messages, stats) become plain JSON-able numbers. */
static __thread gboolean plain_numbers;

static napi_value
js_int64 (napi_env env, gint64 v)
{
  napi_value out;

  if (!plain_numbers && ((gdouble) v > MAX_SAFE_INT || (gdouble) v < -MAX_SAFE_INT))
    napi_create_bigint_int64 (env, v, &out);
  else
    napi_create_int64 (env, v, &out);
  return out;
}

static napi_value
js_uint64 (napi_env env, guint64 v)
{
  napi_value out;

  if (!plain_numbers && (gdouble) v > MAX_SAFE_INT)
    napi_create_bigint_uint64 (env, v, &out);
  else
    napi_create_double (env, (gdouble) v, &out);
  return out;
}

static napi_value
js_string (napi_env env, const gchar * s)
{
  napi_value out;

  if (!s)
    napi_get_null (env, &out);
  else
    napi_create_string_utf8 (env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value
js_list (napi_env env, const GValue * v, guint n,
    const GValue * (*nth) (const GValue *, guint))
{
  napi_value arr;
  guint i;

  napi_create_array_with_length (env, n, &arr);
  for (i = 0; i < n; i++)
    napi_set_element (env, arr, i, dg_gvalue_to_js (env, nth (v, i)));
  return arr;
}

napi_value
dg_gvalue_to_js (napi_env env, const GValue * v)
{
  GType t = G_VALUE_TYPE (v);
  napi_value out;

  switch (G_TYPE_FUNDAMENTAL (t)) {
    case G_TYPE_BOOLEAN:
      napi_get_boolean (env, g_value_get_boolean (v), &out);
      return out;
    case G_TYPE_CHAR:
      napi_create_int32 (env, g_value_get_schar (v), &out);
      return out;
    case G_TYPE_UCHAR:
      napi_create_uint32 (env, g_value_get_uchar (v), &out);
      return out;
    case G_TYPE_INT:
      napi_create_int32 (env, g_value_get_int (v), &out);
      return out;
    case G_TYPE_UINT:
      napi_create_uint32 (env, g_value_get_uint (v), &out);
      return out;
    case G_TYPE_LONG:
      return js_int64 (env, g_value_get_long (v));
    case G_TYPE_ULONG:
      return js_uint64 (env, g_value_get_ulong (v));
    case G_TYPE_INT64:
      return js_int64 (env, g_value_get_int64 (v));
    case G_TYPE_UINT64:
      return js_uint64 (env, g_value_get_uint64 (v));
    case G_TYPE_FLOAT:
      napi_create_double (env, g_value_get_float (v), &out);
      return out;
    case G_TYPE_DOUBLE:
      napi_create_double (env, g_value_get_double (v), &out);
      return out;
    case G_TYPE_STRING:
      return js_string (env, g_value_get_string (v));
    case G_TYPE_ENUM:{
      GEnumClass *klass = g_type_class_ref (t);
      GEnumValue *ev = g_enum_get_value (klass, g_value_get_enum (v));

      if (ev)
        out = js_string (env, ev->value_nick);
      else
        napi_create_int32 (env, g_value_get_enum (v), &out);
      g_type_class_unref (klass);
      return out;
    }
    case G_TYPE_FLAGS:
      napi_create_uint32 (env, g_value_get_flags (v), &out);
      return out;
    case G_TYPE_OBJECT:{
      GObject *obj = g_value_get_object (v);

      if (obj && GST_IS_OBJECT (obj))
        return js_string (env, GST_OBJECT_NAME (obj));
      napi_get_null (env, &out);
      return out;
    }
    default:
      break;
  }

  if (t == GST_TYPE_STRUCTURE) {
    const GstStructure *s = gst_value_get_structure (v);

    if (s)
      return dg_structure_to_js (env, s);
    napi_get_null (env, &out);
    return out;
  }
  if (t == GST_TYPE_LIST)
    return js_list (env, v, gst_value_list_get_size (v),
        gst_value_list_get_value);
  if (t == GST_TYPE_ARRAY)
    return js_list (env, v, gst_value_array_get_size (v),
        gst_value_array_get_value);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS;
  if (t == g_type_from_name ("GValueArray")) {
    GValueArray *va = g_value_get_boxed (v);
    napi_value arr;
    guint i, n = va ? va->n_values : 0;

    napi_create_array_with_length (env, n, &arr);
    for (i = 0; i < n; i++)
      napi_set_element (env, arr, i, dg_gvalue_to_js (env,
              g_value_array_get_nth (va, i)));
    return arr;
  }
  G_GNUC_END_IGNORE_DEPRECATIONS;
  if (t == G_TYPE_ERROR) {
    const GError *e = g_value_get_boxed (v);

    return js_string (env, e ? e->message : NULL);
  }
  if (t == GST_TYPE_CAPS) {
    const GstCaps *caps = gst_value_get_caps (v);
    gchar *s = caps ? gst_caps_to_string (caps) : NULL;

    out = js_string (env, s);
    g_free (s);
    return out;
  }
  {
    /* Anything else (fractions, date-times, ...): GStreamer's own text form. */
    gchar *s = gst_value_serialize (v);

    out = js_string (env, s);
    g_free (s);
    return out;
  }
}

typedef struct
{
  napi_env env;
  napi_value obj;
} FieldCtx;

static gboolean
set_field (GQuark field, const GValue * value, gpointer data)
{
  FieldCtx *ctx = data;

  napi_set_named_property (ctx->env, ctx->obj, g_quark_to_string (field),
      dg_gvalue_to_js (ctx->env, value));
  return TRUE;
}

napi_value
dg_structure_to_js (napi_env env, const GstStructure * s)
{
  FieldCtx ctx = { env, NULL };
  gboolean outer = plain_numbers;

  plain_numbers = TRUE;
  napi_create_object (env, &ctx.obj);
  gst_structure_foreach (s, set_field, &ctx);
  plain_numbers = outer;
  return ctx.obj;
}

/* ---- JS -> GValue for a property ---- */

static gboolean
number_to_gvalue (gdouble d, GType fundamental, GValue * out, gchar ** err)
{
  gboolean integral = isfinite (d) && floor (d) == d;

#define RANGE(lo, hi) \
  if (!integral || d < (gdouble) (lo) || d > (gdouble) (hi)) { \
    *err = g_strdup_printf ("%g is not an integer in [%g, %g]", d, \
        (gdouble) (lo), (gdouble) (hi)); \
    return FALSE; \
  }

  switch (fundamental) {
    case G_TYPE_INT:
      RANGE (G_MININT, G_MAXINT);
      g_value_set_int (out, (gint) d);
      return TRUE;
    case G_TYPE_UINT:
      RANGE (0, G_MAXUINT);
      g_value_set_uint (out, (guint) d);
      return TRUE;
    case G_TYPE_LONG:
      RANGE (-MAX_SAFE_INT, MAX_SAFE_INT);
      g_value_set_long (out, (glong) d);
      return TRUE;
    case G_TYPE_ULONG:
      RANGE (0, MAX_SAFE_INT);
      g_value_set_ulong (out, (gulong) d);
      return TRUE;
    case G_TYPE_INT64:
      RANGE (-MAX_SAFE_INT, MAX_SAFE_INT);
      g_value_set_int64 (out, (gint64) d);
      return TRUE;
    case G_TYPE_UINT64:
      RANGE (0, MAX_SAFE_INT);
      g_value_set_uint64 (out, (guint64) d);
      return TRUE;
    case G_TYPE_CHAR:
      RANGE (G_MININT8, G_MAXINT8);
      g_value_set_schar (out, (gint8) d);
      return TRUE;
    case G_TYPE_UCHAR:
      RANGE (0, G_MAXUINT8);
      g_value_set_uchar (out, (guint8) d);
      return TRUE;
    case G_TYPE_FLOAT:
      g_value_set_float (out, (gfloat) d);
      return TRUE;
    case G_TYPE_DOUBLE:
      g_value_set_double (out, d);
      return TRUE;
    case G_TYPE_ENUM:
      RANGE (G_MININT, G_MAXINT);
      g_value_set_enum (out, (gint) d);
      return TRUE;
    case G_TYPE_FLAGS:
      RANGE (0, G_MAXUINT);
      g_value_set_flags (out, (guint) d);
      return TRUE;
    default:
      *err = g_strdup ("a number does not fit this property type");
      return FALSE;
  }
#undef RANGE
}

gboolean
dg_js_to_gvalue (napi_env env, napi_value js, GParamSpec * pspec,
    GValue * out, gchar ** err)
{
  GType type = G_PARAM_SPEC_VALUE_TYPE (pspec);
  GType fundamental = G_TYPE_FUNDAMENTAL (type);
  napi_valuetype jt;

  napi_typeof (env, js, &jt);
  g_value_init (out, type);

  switch (jt) {
    case napi_string:{
      gchar *s = dg_get_string (env, js);
      gboolean ok;

      if (fundamental == G_TYPE_STRING) {
        g_value_take_string (out, s);
        return TRUE;
      }
      /* enums by nick/name, caps, fractions...: GStreamer's own parser */
      ok = gst_value_deserialize_with_pspec (out, s, pspec);
      if (!ok)
        *err = g_strdup_printf ("cannot parse \"%s\" as %s", s,
            g_type_name (type));
      g_free (s);
      return ok;
    }
    case napi_number:{
      gdouble d;

      napi_get_value_double (env, js, &d);
      return number_to_gvalue (d, fundamental, out, err);
    }
    case napi_boolean:{
      bool b;

      if (fundamental != G_TYPE_BOOLEAN) {
        *err = g_strdup_printf ("a boolean does not fit %s", g_type_name (type));
        return FALSE;
      }
      napi_get_value_bool (env, js, &b);
      g_value_set_boolean (out, b);
      return TRUE;
    }
    case napi_bigint:{
      bool lossless = false;

      if (fundamental == G_TYPE_UINT64 || fundamental == G_TYPE_ULONG) {
        guint64 u;

        napi_get_value_bigint_uint64 (env, js, &u, &lossless);
        if (!lossless) {
          *err = g_strdup ("bigint out of range for an unsigned 64-bit value");
          return FALSE;
        }
        if (fundamental == G_TYPE_UINT64)
          g_value_set_uint64 (out, u);
        else
          g_value_set_ulong (out, u);
        return TRUE;
      } else {
        gint64 i;

        napi_get_value_bigint_int64 (env, js, &i, &lossless);
        if (!lossless) {
          *err = g_strdup ("bigint out of range for a 64-bit value");
          return FALSE;
        }
        if (fundamental == G_TYPE_INT64 || fundamental == G_TYPE_LONG) {
          if (fundamental == G_TYPE_INT64)
            g_value_set_int64 (out, i);
          else
            g_value_set_long (out, i);
          return TRUE;
        }
        return number_to_gvalue ((gdouble) i, fundamental, out, err);
      }
    }
    default:
      *err = g_strdup ("value must be a string, number, boolean or bigint");
      return FALSE;
  }
}
