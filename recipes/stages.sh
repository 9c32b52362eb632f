# Sourced by the staged recipe scripts (after `cd` to the repository root):
#   STAGE=N  start at stage N (default 1)      STOP=M  end after stage M (default: run to the end)
# e.g. STAGE=1 STOP=2 builds the data only; STAGE=3 resumes at training.
STAGE=${STAGE:-1}
STOP=${STOP:-99}
case "$STAGE:$STOP" in
  *[!0-9:]*|:*|*:) echo "STAGE and STOP must be stage numbers, got STAGE=$STAGE STOP=$STOP" >&2; exit 2 ;;
esac
stage() { [ "$STAGE" -le "$1" ] && [ "$1" -le "$STOP" ]; }
