/**
 * An Auth0 post-login Action, pasted unchanged: it only uses the calls
 * Tessera's script actions provide (api.accessToken / api.idToken
 * setCustomClaim, api.access.deny, api.user.setAppMetadata).
 *
 * @param {Event} event - Details about the user and the context in which they are logging in.
 * @param {PostLoginAPI} api - Interface whose methods can be used to change the behavior of the login.
 */
exports.onExecutePostLogin = async (event, api) => {
  const namespace = 'https://myapp.example.com/';

  if (event.user.app_metadata && event.user.app_metadata.blocked) {
    api.access.deny('Your account is blocked.');
    return;
  }

  const roles = (event.user.app_metadata && event.user.app_metadata.roles) || [];
  api.idToken.setCustomClaim(`${namespace}roles`, roles);
  api.accessToken.setCustomClaim(`${namespace}roles`, roles);
  api.accessToken.setCustomClaim(`${namespace}email`, event.user.email);

  if (event.organization) {
    api.accessToken.setCustomClaim(`${namespace}org_name`, event.organization.name);
  }

  api.user.setAppMetadata('last_login_client', event.client.client_id);
};
