// Loopback OpenID Connect provider for the end-to-end tests (built on the npm package `oidc-provider`).
//
// Start it with `node tests/e2e/oidc_server/server.mjs` (or through tests/e2e/oidc.py) and these environment variables:
//   OIDC_PORT                       TCP port to listen on (127.0.0.1 only); the issuer is http://127.0.0.1:<port>
//   OIDC_CLIENT_ID                  client_id of the single confidential client
//   OIDC_CLIENT_SECRET              its client_secret (client_secret_basic or client_secret_post at the token endpoint)
//   OIDC_REDIRECT_URI               its only redirect_uri
//   OIDC_POST_LOGOUT_REDIRECT_URI   its only post_logout_redirect_uri
// Once listening, it prints exactly one line `ready <issuer>` to stdout. SIGTERM / SIGINT stop it cleanly.
//
// What a client gets:
//   - Authorization code flow only (response_type=code), PKCE mandatory for every request, S256 only.
//   - Scopes: request `openid profile email`. `groups` is part of the `profile` scope, so no extra scope is needed.
//     name, given_name, family_name, preferred_username, groups (profile) and email, email_verified (email) are
//     released by the USERINFO endpoint only: the ID token carries sub (= the login), nonce, sid, auth_time, but no
//     profile/email claims (oidc-provider's `conformIdTokenClaims` behaviour, since an access token for userinfo is
//     always issued alongside). The client has to merge userinfo into the ID token claims.
//   - Test accounts: alice / alice-password (groups ["referentiel-admins"]), bob / bob-password (groups ["contractors"]).
//   - Login page: inputs labelled "Username" and "Password", buttons "Sign in" and "Cancel" (Cancel sends the browser
//     back to the redirect_uri with error=access_denied). A bad login re-shows the form with
//     "Invalid username or password". Consent is granted automatically, there is no consent page.
//   - RP-initiated logout at the end_session_endpoint: a page with a "Sign out" button (and "Stay signed in"), then a
//     redirect to the registered post_logout_redirect_uri (with `state` if one was given).
//   - Everything is in memory: the signing key, the cookie keys, sessions and tokens vanish when the process stops.
//
// No page served here loads anything from outside the loopback interface.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';

const HOST = '127.0.0.1';

function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`oidc test provider: environment variable ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

const port = Number.parseInt(requiredEnv('OIDC_PORT'), 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write(`oidc test provider: invalid OIDC_PORT ${JSON.stringify(process.env.OIDC_PORT)}\n`);
  process.exit(2);
}
const clientId = requiredEnv('OIDC_CLIENT_ID');
const clientSecret = requiredEnv('OIDC_CLIENT_SECRET');
const redirectUri = requiredEnv('OIDC_REDIRECT_URI');
const postLogoutRedirectUri = requiredEnv('OIDC_POST_LOGOUT_REDIRECT_URI');

const issuer = `http://${HOST}:${port}`;

// ---------------------------------------------------------------------------------------------------------------
// Test accounts (hard-coded test data; the subject is the login).

const ACCOUNTS = new Map([
  ['alice', {
    password: 'alice-password',
    givenName: 'Alice',
    familyName: 'Martin',
    email: 'alice@bank.example',
    groups: ['referentiel-admins'],
  }],
  ['bob', {
    password: 'bob-password',
    givenName: 'Bob',
    familyName: 'Durand',
    email: 'bob@bank.example',
    groups: ['contractors'],
  }],
]);

function claimsOf(login) {
  const account = ACCOUNTS.get(login);
  return {
    sub: login,
    name: `${account.givenName} ${account.familyName}`,
    given_name: account.givenName,
    family_name: account.familyName,
    preferred_username: login,
    email: account.email,
    email_verified: true,
    groups: [...account.groups],
  };
}

function checkCredentials(login, password) {
  const account = ACCOUNTS.get(login);
  return account !== undefined && account.password === password;
}

// ---------------------------------------------------------------------------------------------------------------
// HTML pages (self-contained: inline style, no script, no external resource).

function escapeHtml(value) {
  return String(value)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f3f4f6; margin: 0; padding: 3rem 1rem; }
  main { max-width: 22rem; margin: 0 auto; background: #fff; padding: 1.5rem 2rem; border-radius: 6px;
         box-shadow: 0 1px 3px rgba(0, 0, 0, .2); }
  h1 { font-size: 1.4rem; font-weight: 500; margin-top: 0; }
  label { display: block; margin: .8rem 0 .2rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
  button { margin-top: 1rem; padding: .5rem 1rem; font-size: 1rem; cursor: pointer; }
  .error { color: #b91c1c; }
  .actions { display: flex; gap: .5rem; align-items: baseline; }
  pre { white-space: pre-wrap; word-break: break-word; }
`;

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} - test identity provider</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function loginPage(uid, { username = '', error = '' } = {}) {
  const base = `/interaction/${encodeURIComponent(uid)}`;
  const message = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return page('Sign in', `<h1>Sign in</h1>
${message}
<form method="post" action="${base}/login" id="login-form">
  <label for="username">Username</label>
  <input id="username" name="username" type="text" autocomplete="username" autofocus required
         value="${escapeHtml(username)}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
</form>
<form method="post" action="${base}/abort" id="cancel-form"></form>
<div class="actions">
  <button type="submit" form="login-form">Sign in</button>
  <button type="submit" form="cancel-form">Cancel</button>
</div>`);
}

function sendHtml(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(html));
  res.end(html);
}

// oidc-provider page hooks: logout confirmation, logout without post_logout_redirect_uri, and error pages.

async function logoutSource(ctx, form) {
  // `form` is an empty <form id="op.logoutForm"> carrying the xsrf token; the buttons submit it.
  ctx.type = 'html';
  ctx.body = page('Sign out', `<h1>Signing out</h1>
<p>Do you want to sign out from ${escapeHtml(ctx.host)}?</p>
${form}
<div class="actions">
  <button type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Sign out</button>
  <button type="submit" form="op.logoutForm">Stay signed in</button>
</div>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('Signed out', '<h1>Signed out</h1>\n<p>You have been signed out.</p>');
}

async function renderError(ctx, out) {
  const details = Object.entries(out)
    .map(([key, value]) => `<pre><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</pre>`)
    .join('\n');
  ctx.type = 'html';
  ctx.body = page('Error', `<h1>Error</h1>\n${details}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Provider configuration.

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', use: 'sig', alg: 'RS256' };

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      client_name: 'Referentiel portal (e2e)',
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [postLogoutRedirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      // oidc-provider accepts client_secret_post as well for a client registered with client_secret_basic.
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  responseTypes: ['code'],
  // PKCE for every client and every request; oidc-provider only implements the S256 method.
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email'],
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'groups'],
    email: ['email', 'email_verified'],
  },
  // Profile and email claims only in userinfo, never in the ID token (this is also the library's default).
  conformIdTokenClaims: true,
  async findAccount(_ctx, sub) {
    if (!ACCOUNTS.has(sub)) {
      return undefined;
    }
    return {
      accountId: sub,
      async claims() {
        return claimsOf(sub);
      },
    };
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
  },
  renderError,
  clientBasedCORS: () => false,
  jwks: { keys: [signingKey] },
  cookies: {
    // Random per process: cookies are signed, and only live as long as this in-memory provider. Distinct names so
    // that they cannot collide with the portal's cookies, which the browser keeps for the same host 127.0.0.1.
    keys: [randomBytes(32).toString('hex')],
    names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
    // secure is not set: oidc-provider only marks cookies secure when the request came over https.
    long: { httpOnly: true, sameSite: 'lax' },
    short: { httpOnly: true, sameSite: 'lax' },
  },
  ttl: {
    AccessToken: 10 * 60,
    AuthorizationCode: 60,
    IdToken: 10 * 60,
    RefreshToken: 60 * 60,
    Interaction: 10 * 60,
    Session: 60 * 60,
    Grant: 60 * 60,
  },
};

const provider = new Provider(issuer, configuration);

provider.on('server_error', (_ctx, err) => {
  process.stderr.write(`oidc test provider: server_error: ${err?.stack ?? err}\n`);
});

// ---------------------------------------------------------------------------------------------------------------
// Interaction endpoints: /interaction/<uid> (GET), /interaction/<uid>/login (POST), /interaction/<uid>/abort (POST).

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?$/;
const MAX_FORM_BYTES = 16 * 1024;

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) {
      throw new Error('request body too large');
    }
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Grants what the consent prompt says is missing, then resumes the authorization request.
async function grantConsent(req, res, interaction) {
  const { prompt: { details }, params, session, grantId } = interaction;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (details.missingOIDCScope) {
    grant.addOIDCScope(details.missingOIDCScope.join(' '));
  }
  if (details.missingOIDCClaims) {
    grant.addOIDCClaims(details.missingOIDCClaims);
  }
  if (details.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const savedGrantId = await grant.save();
  const consent = grantId ? {} : { grantId: savedGrantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function handleInteraction(req, res, uid, action) {
  const interaction = await provider.interactionDetails(req, res);
  if (interaction.uid !== uid) {
    throw new errors.SessionNotFound('interaction mismatch');
  }
  const promptName = interaction.prompt.name;

  if (action === undefined) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendHtml(res, 405, page('Error', '<h1>Method not allowed</h1>'));
      return;
    }
    if (promptName === 'login') {
      sendHtml(res, 200, loginPage(uid));
    } else if (promptName === 'consent') {
      await grantConsent(req, res, interaction);
    } else {
      sendHtml(res, 400, page('Error', `<h1>Unsupported prompt ${escapeHtml(promptName)}</h1>`));
    }
    return;
  }

  if (req.method !== 'POST') {
    sendHtml(res, 405, page('Error', '<h1>Method not allowed</h1>'));
    return;
  }

  if (action === 'abort') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
    return;
  }

  // action === 'login'
  if (promptName !== 'login') {
    sendHtml(res, 400, page('Error', '<h1>No sign-in is pending for this request</h1>'));
    return;
  }
  const form = await readForm(req);
  const username = (form.get('username') ?? '').trim();
  const password = form.get('password') ?? '';
  if (!checkCredentials(username, password)) {
    sendHtml(res, 200, loginPage(uid, { username, error: 'Invalid username or password' }));
    return;
  }
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: username, amr: ['pwd'] } },
    { mergeWithLastSubmission: false },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP server.

const providerCallback = provider.callback();

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url, issuer);
  const match = INTERACTION_PATH.exec(pathname);
  if (!match) {
    providerCallback(req, res);
    return;
  }
  handleInteraction(req, res, match[1], match[2]).catch((err) => {
    if (res.headersSent) {
      res.destroy(err);
      return;
    }
    if (err instanceof errors.SessionNotFound) {
      sendHtml(res, 400, page('Error', '<h1>Sign-in session not found or expired</h1>\n<p>Start again from the application.</p>'));
      return;
    }
    process.stderr.write(`oidc test provider: interaction error: ${err?.stack ?? err}\n`);
    sendHtml(res, 500, page('Error', '<h1>Internal error</h1>'));
  });
});

server.on('error', (err) => {
  process.stderr.write(`oidc test provider: ${err.message}\n`);
  process.exit(1);
});

server.listen(port, HOST, () => {
  process.stdout.write(`ready ${issuer}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // In case a connection refuses to go away.
  setTimeout(() => process.exit(0), 2000).unref();
}

process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
