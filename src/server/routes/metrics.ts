import type { FastifyInstance } from 'fastify';

export default async function metricsRoutes(app: FastifyInstance) {
  app.get('/metrics', async (_request, reply) => {
    const { registry } = app.metrics;
    return reply.header('Content-Type', registry.contentType).send(await registry.metrics());
  });
}
