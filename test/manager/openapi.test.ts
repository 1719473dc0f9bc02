// The OpenAPI document describes exactly the routes the server has.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { OPENAPI } from '../../manager/server/openapi.js';
import { routeList } from '../../manager/server/routes.js';

test('every route is in the OpenAPI document, and the document has no route the server lacks', () => {
  const documented = Object.entries(OPENAPI.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
  assert.deepEqual([...documented].sort(), [...routeList()].sort());
});
