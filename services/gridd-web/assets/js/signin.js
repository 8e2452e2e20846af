// Sign-in, sign-out and the start of a session, the same in every app of gridd (the dashboard,
// the hotline console and the squad terminal): the sign-in screen with its refusals worded in
// the user's language, resuming the session the browser kept, and going back to the sign-in
// screen when the session ends. Each page has the same elements for it (boot, signin, app, the
// signin-* form, sign-out, the language switch and its two slots); what running the app means
// is the app's, through the hooks given to SignIn.

import * as api from './api.js';
import { t, has, getLang, onLangChange } from './i18n.js';
import { errorText, refusal, showRefusal } from './dom.js';

const $ = (id) => document.getElementById(id);

// Our wording of a refused sign-in, by the server's code; other codes keep the server's message.
const SIGNIN_REFUSALS = {
  unauthenticated: 'signin.badCredentials',
  resource_exhausted: (ex) => (ex.retryAfter ? t('signin.locked', { seconds: ex.retryAfter }) : t('signin.lockedNoTime')),
};

/** The language switch sits on the sign-in card or in the app's header, whichever shows. */
function moveLangSwitch(slotId) {
  $(slotId).append($('lang-switch'));
}

/** Shows the app's screen (boot and sign-in hidden), with the language switch in its header. */
export function showApp() {
  $('boot').hidden = true;
  $('signin').hidden = true;
  $('app').hidden = false;
  moveLangSwitch('app-lang-slot');
}

/** The signed-in role's name: the server's label is Chinese; in English the table's name of the role when it has one. */
export function roleLabel(p) {
  const key = `role.${p.role}`;
  return getLang() === 'zh' ? p.roleLabel || (has(key) ? t(key) : p.role) : has(key) ? t(key) : p.roleLabel || p.role;
}

/** Fills the header's user name and role; answers the principal and the role's label. */
export function showPrincipal() {
  const p = api.principal() || {};
  $('user-name').textContent = p.displayName || p.subject || '';
  const label = roleLabel(p);
  $('user-role').textContent = label || '';
  return { p, label };
}

/**
 * The sign-in of one page. Hooks:
 * - start(): runs the app once signed in (a promise it answers is waited for: a failure then
 *   shows on the sign-in form, or on the boot screen while resuming);
 * - stop(): stops it when the user signs out or the session ends;
 * - afterSignIn(): optional, after start() when the user signed in on the form;
 * - running(): optional; when given, a session that ends while it answers false changes nothing;
 * - maySignOut(): optional; false keeps the user signed in (e.g. actions not yet sent);
 * - offline: resume the kept session when only the network failed (an installed app that
 *   must open without one), instead of asking to sign in again.
 */
export class SignIn {
  constructor(hooks) {
    this.hooks = hooks;
    // What the sign-in form's error box shows: { key } (our own check) or { ex } (a refusal);
    // kept so that the language switch can word it again.
    this.error = null;
    this.ending = false;
    $('signin-form').addEventListener('submit', (e) => this.submit(e));
    $('sign-out').addEventListener('click', () => this.signOut());
    api.onSessionExpired(() => this.ended());
    onLangChange(() => { if (!$('signin').hidden) this.renderError(); });
  }

  /** The sign-in screen, with `notice` (e.g. why the session ended) above the form. */
  show(notice) {
    $('boot').hidden = true;
    $('app').hidden = true;
    $('signin').hidden = false;
    moveLangSwitch('signin-lang-slot');
    const n = $('signin-notice');
    n.hidden = !notice;
    n.textContent = notice || '';
    this.error = null;
    $('signin-error').hidden = true;
    $('signin-password').value = '';
    $('signin-submit').disabled = false;
    $('signin-username').focus();
  }

  renderError() {
    const el = $('signin-error');
    el.hidden = !this.error;
    if (!this.error) return;
    if (this.error.key) showRefusal(el, { text: t(this.error.key), detail: '' });
    else showRefusal(el, refusal(this.error.ex, SIGNIN_REFUSALS));
  }

  async submit(e) {
    e.preventDefault();
    const user = $('signin-username').value.trim();
    const pass = $('signin-password').value;
    if (!user || !pass) {
      this.error = { key: 'signin.required' };
      this.renderError();
      (user ? $('signin-password') : $('signin-username')).focus();
      return;
    }
    const button = $('signin-submit');
    button.disabled = true;
    button.textContent = t('signin.busy');
    this.error = null;
    $('signin-error').hidden = true;
    try {
      await api.signIn(user, pass);
      $('signin-password').value = '';
      $('signin-notice').hidden = true;
      await this.hooks.start();
      if (this.hooks.afterSignIn) this.hooks.afterSignIn();
    } catch (ex) {
      this.error = { ex };
      this.renderError();
      $('signin-password').select();
      $('signin-password').focus();
    } finally {
      button.disabled = false;
      button.textContent = t('signin.submit');
    }
  }

  async signOut() {
    if (this.hooks.maySignOut && !this.hooks.maySignOut()) return;
    this.hooks.stop();
    await api.signOut();
    this.show(t('session.signedOut'));
  }

  /** The session can no longer be used (refused refresh, a stream or call answered 401). */
  ended() {
    if (this.ending || (this.hooks.running && !this.hooks.running())) return;
    this.ending = true;
    this.hooks.stop();
    this.show(t('session.expired'));
    this.ending = false;
  }

  /** On opening the page: runs the app on the session the browser kept, or asks to sign in. */
  async resume() {
    if (!api.currentSession()) {
      this.show('');
      return;
    }
    try {
      await api.resume();
    } catch (err) {
      // The refresh was refused (or, unless the app may start offline, could not be asked).
      const offline = err instanceof api.ApiError && err.status === 0;
      if (!(this.hooks.offline && offline)) {
        this.show(t('session.expired'));
        return;
      }
    }
    if (!api.currentSession()) {
      this.show(t('session.expired'));
      return;
    }
    await this.hooks.start();
  }
}

/** Runs the page's start-up; what stops it is shown on the boot screen instead of a spinner. */
export function boot(init) {
  init().catch((err) => {
    const el = $('boot');
    el.hidden = false;
    el.textContent = errorText(err);
  });
}
