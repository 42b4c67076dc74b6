"""The console's route handlers, one module (and one ``APIRouter``, ``router``) per page."""
