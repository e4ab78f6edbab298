"""What a browser's console may say without a test failing."""

import re

# A Streamlit rerun deletes the media files (st.image) of the run before; an image the browser had
# not fetched yet then answers 404 and is logged as two console errors. That image is superseded
# and never shown, so these two are ignored, but only when every image on the page in the end
# has loaded (each test that ignores them checks): a 404 for an image still displayed fails the test.
SUPERSEDED_MEDIA = re.compile(
    r"^console\.error: (Failed to load resource: the server responded with a status of 404 \(Not Found\) "
    r"\(\S+/media/\w+\.\w+\)"
    r"|Client Error: Image source error - \S+/media/\w+\.\w+ )"
)
