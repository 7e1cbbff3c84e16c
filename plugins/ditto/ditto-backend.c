/* ditto-gst
 * Copyright (C) 2026 ditto-gst developers
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The backend registry: the element picks a backend by name from here.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ditto-backend.h"

G_DEFINE_QUARK (ditto-backend-error-quark, ditto_backend_error);

#define MAX_BACKENDS 8

/* builtin is always first. A further backend (the real model) adds its
 * class here, guarded by its own build option; others (a test plugin built
 * from the same sources) register at plugin load. */
static const DittoBackendClass *backends[MAX_BACKENDS + 1] = {
  &ditto_backend_builtin,
#ifdef DITTO_HAVE_REMOTE_BACKEND
  &ditto_backend_ditto,
#endif
  NULL
};

gboolean
ditto_backend_register (const DittoBackendClass * klass)
{
  guint i;

  for (i = 0; i < MAX_BACKENDS && backends[i] != NULL; i++) {
    if (g_strcmp0 (backends[i]->name, klass->name) == 0)
      return backends[i] == klass;
  }
  if (i == MAX_BACKENDS)
    return FALSE;
  backends[i] = klass;
  return TRUE;
}

const DittoBackendClass *
ditto_backend_lookup (const gchar * name)
{
  guint i;

  if (name == NULL || *name == '\0')
    name = "builtin";
  for (i = 0; backends[i] != NULL; i++) {
    if (g_strcmp0 (backends[i]->name, name) == 0)
      return backends[i];
  }
  return NULL;
}

const DittoBackendClass *const *
ditto_backend_list (void)
{
  return (const DittoBackendClass * const *) backends;
}
