#!/usr/bin/env cwl-runner
# reconciler apply as a pipeline step (docs/pipelines.md): plan a spec and apply it with
# guarded writes, in the form Synapse challenge templates use for annotation steps.
cwlVersion: v1.2
class: CommandLineTool
label: reconciler apply
doc: |
  Plans the spec and applies it: `reconciler -q apply SPEC --auto-approve --format
  FORMAT`. Exit code 0 succeeds; 1 (invalid spec, blocked change, safety limit, stale or
  failed items, service error) fails the step, with the report saying what landed.
  The spec's directory is staged (copied) with its includes, and a scoring step's
  `results` as `SUBMISSION_ID.results.json` beside the spec, for a JSON source such as
  `{json: "*.results.json", id: {path: "{id}.results.json"}}`.

hints:
  SoftwareRequirement:
    packages:
      - package: evalqueue-reconciler
        version: ["0.1.0"]
  # No DockerRequirement: no image is published; add one with reconciler installed
  # (`pip install evalqueue-reconciler==0.1.0`) through your runner's overrides.
requirements:
  InitialWorkDirRequirement:
    listing:
      # copies, not links: reconciler refuses an include that resolves outside the spec's
      # directory, and a link to the runner's staging area would
      - entry: $(inputs.spec_dir)
        entryname: spec
        writable: true
      - entry: $(inputs.results)
        entryname: spec/$(inputs.submission_id).results.json
        writable: true
      - entry: $(inputs.synapse_config)
        entryname: .synapseConfig   # HOME is the step's directory: ~/.synapseConfig

baseCommand: [reconciler, -q, apply, --auto-approve]
successCodes: [0]
stdout: apply-report.json

inputs:
  spec_dir:
    type: Directory
    doc: The directory holding the spec and every file its `include:` names.
  spec:
    type: string
    default: spec.yaml
    doc: The spec's path inside spec_dir.
    inputBinding: {position: 1, valueFrom: spec/$(self)}
  results:
    type: File?
    doc: A scoring step's results.json, staged as SUBMISSION_ID.results.json.
  submission_id:
    type: string?
    doc: The submission the results are for (its id names the staged file).
  synapse_config:
    type: File?
    doc: A .synapseConfig holding the Synapse token ([authentication] authtoken).
  format:
    type:
      type: enum
      symbols: [text, json]
    default: json
    inputBinding: {prefix: --format, position: 2}

outputs:
  report:
    type: stdout
