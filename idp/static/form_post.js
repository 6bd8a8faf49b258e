// response_mode=form_post: send the authorization response on to the platform (OAuth 2.0 Form Post).
document.getElementById("response").submit();
