"""Extensions, created unbound here and bound in create_app."""
from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sock import Sock
from flask_wtf import CSRFProtect

sock = Sock()
compress = Compress()  # phones on weak networks: pages, CSS and JS go out compressed
babel = Babel()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
