"""What `make run` is told by the settings (chargehub/settings.py), read in a fresh process
with the environment as a deployment or `make run` would start it: under DEBUG mail goes
to files in var/mail/, and the chatty libraries log at WARNING unless asked."""

from tests.fresh_process import printed

CODE = (
    "import json, logging, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
    "'chargehub.settings'); import django; django.setup(); from django.conf import settings;"
    "print(json.dumps({'mailer': settings.MAILERS['default'], 'var': str(settings.VAR_DIR),"
    "'levels': {n: logging.getLogger(n).getEffectiveLevel() for n in "
    "('daphne', 'uvicorn.error', 'ocpp', 'weasyprint', 'fontTools', 'stations')}}))"
)


def settings_of(env: dict[str, str]) -> dict:
    return printed(env, CODE)


def test_under_debug_mail_goes_to_files_in_the_var_directory(tmp_path):
    found = settings_of({"DEBUG": "1", "CHARGEHUB_VAR_DIR": str(tmp_path)})
    assert found["mailer"] == {
        "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "OPTIONS": {"file_path": str(tmp_path / "mail")},
    }
    elsewhere = settings_of({"DEBUG": "1", "EMAIL_FILE_PATH": str(tmp_path / "post")})
    assert elsewhere["mailer"]["OPTIONS"] == {"file_path": str(tmp_path / "post")}


def test_without_debug_mail_goes_by_smtp():
    assert settings_of({"DEBUG": "0"})["mailer"]["BACKEND"].endswith("smtp.EmailBackend")


def test_the_chatty_libraries_log_warnings_only_unless_asked():
    levels = settings_of({"DEBUG": "1"})["levels"]
    assert levels == {
        "daphne": 30,
        "uvicorn.error": 30,
        "ocpp": 30,
        "weasyprint": 30,
        "fontTools": 30,
        "stations": 20,
    }
    verbose = settings_of({"DEBUG": "1", "LIBRARY_LOG_LEVEL": "INFO"})["levels"]
    assert verbose["ocpp"] == verbose["weasyprint"] == 20
