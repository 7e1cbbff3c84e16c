import { z } from 'zod';
import { offerPayloadSchema } from '../offers/offer-params.js';
import { zodSchema } from './validate.js';

/** The request schemas of the API's routes, from the zod types the services use. */

export const sessionIdParams = z.object({ id: z.string().min(1).max(128) });
export type SessionIdParams = z.infer<typeof sessionIdParams>;

/** Routes under /webrtc/sessions/:id. */
export const sessionRouteSchema = { params: zodSchema(sessionIdParams, 'path parameters') };

/** POST /webrtc/offer: the predecessor's payload. */
export const offerRouteSchema = { body: zodSchema(offerPayloadSchema, 'offer payload') };

/** Text messages on the live audio WebSocket (binary messages are audio). */
export const liveControlMessage = z.object({ type: z.enum(['interrupt', 'keepalive']) });
