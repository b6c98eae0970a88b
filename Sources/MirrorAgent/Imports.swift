import GRDB
import Hummingbird
import Logging
import Metrics
import MirrorCore
import Prometheus
import ServiceLifecycle
import Subprocess
