// The username+password → API key exchange against the MAAS API test server (which follows
// maasserver/views/account.py): 403 before the admin exists, then a key the API accepts,
// the same key again for the same consumer.
import { expect } from 'chai';
import { authenticateMaas } from '../../../src/maas/authenticate.js';
import { createMaasClient } from '../../../src/maas/client.js';
import { MaasUnauthorizedError } from '../../../src/maas/errors.js';
import { startMaasApiServer, type MaasApiServer } from '../../support/maas-api-server/server.js';

describe('maas/authenticate against the MAAS API test server', () => {
  let maas: MaasApiServer;
  before(async () => {
    maas = await startMaasApiServer();
  });
  after(async () => {
    await maas.close();
  });

  it('403 before the admin exists; then a key that signs API calls; the same key on a second ask', async () => {
    const admin = { username: 'admin', password: 'pa ss&=/' };
    await authenticateMaas(maas.url, admin).then(
      () => expect.fail('accepted before createadmin'),
      (e: unknown) => expect(e).to.be.instanceOf(MaasUnauthorizedError),
    );
    maas.createAdmin(admin.username, admin.password);
    await authenticateMaas(maas.url, { ...admin, password: 'wrong' }).then(
      () => expect.fail('accepted a wrong password'),
      (e: unknown) => expect(e).to.be.instanceOf(MaasUnauthorizedError),
    );
    const key = await authenticateMaas(maas.url, admin);
    expect(key).to.match(/^[A-Za-z0-9]+:[A-Za-z0-9]+:[A-Za-z0-9]+$/);
    expect(await authenticateMaas(maas.url, admin)).to.equal(key);
    const client = createMaasClient({ url: maas.url, apiKey: key });
    const racks = await client.listRackControllers();
    expect(racks.map((r) => r.systemId)).to.deep.equal([maas.rackController.systemId]);
    const posts = maas.requests().filter((r) => r.path === '/MAAS/accounts/authenticate/');
    expect(posts.map((r) => [r.method, r.status])).to.deep.equal([
      ['POST', 403],
      ['POST', 403],
      ['POST', 200],
      ['POST', 200],
    ]);
    expect(
      posts.every((r) => r.contentType?.startsWith('application/x-www-form-urlencoded')),
    ).to.equal(true);
  });
});
