// The login form the desk shows to Guest: POST /api/method/login, then reload into the desk.

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = form.querySelector('button');
  button.disabled = true;
  error.textContent = '';
  try {
    const res = await fetch('/api/method/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ usr: form.usr.value.trim(), pwd: form.pwd.value }),
    });
    if (res.ok) {
      location.reload();
      return;
    }
    let msg = `Login failed (HTTP ${res.status})`;
    try {
      const body = await res.json();
      const first = JSON.parse(JSON.parse(body._server_messages || '[]')[0] || '{}');
      msg = first.message || body.message || msg;
    } catch {
      // keep the generic message
    }
    error.textContent = msg;
    form.pwd.select();
  } catch (err) {
    error.textContent = `Cannot reach the server: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});
