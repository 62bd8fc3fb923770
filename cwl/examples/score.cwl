#!/usr/bin/env cwl-runner
# A stand-in for a challenge's scoring step: writes results.json as Synapse challenge
# templates' score.cwl does (one JSON object of scores and a status).
cwlVersion: v1.2
class: CommandLineTool
label: score a submission (example)
baseCommand: [python3, -c]
arguments:
  - |
    import json, sys
    predictions = [float(x) for x in open(sys.argv[1]).read().split()]
    auc = round(sum(predictions) / len(predictions), 4)
    json.dump({"auc": auc, "submission_status": "SCORED"}, open("results.json", "w"))
inputs:
  predictions:
    type: File
    inputBinding: {position: 1}
outputs:
  results:
    type: File
    outputBinding: {glob: results.json}
