/**
 * Config slice `forwarding`: the paths (one forwarder each), the routes that use them, retry
 * timing, and the secret police receivers sign acknowledgements with. zod; types are z.infer.
 */
import { z } from 'zod';
import { forwarderPathSchema } from './forwarders/registry.js';
import { retrySchema, routeProblems, routeSchema } from './routes.js';

export const forwardingSchema = z
  .object({
    paths: z.array(forwarderPathSchema).default([]),
    routes: z.array(routeSchema).default([]),
    retry: retrySchema.default(retrySchema.parse({})),
    /** HMAC secret of the acknowledgement callback (`POST /api/alarm-acks`); no callback without it. */
    ackSecret: z.string().min(16, 'ackSecret must be at least 16 characters').optional(),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const ids = new Set<string>();
    cfg.paths.forEach((p, i) => {
      if (ids.has(p.id)) ctx.addIssue({ code: 'custom', path: ['paths', i, 'id'], message: `duplicate path id "${p.id}"` });
      ids.add(p.id);
    });
    for (const problem of routeProblems(cfg.routes, ids)) ctx.addIssue({ code: 'custom', path: ['routes', ...problem.path], message: problem.message });
  });

export type ForwardingConfig = z.infer<typeof forwardingSchema>;
