// Package graphschema validates and defaults DynamoGraphDeployment manifests exactly as the API
// server does, in process, from the generated CRD that the operator installs: its OpenAPI schema
// (types, bounds, enums, patterns), its defaults, its list invariants (listType=map keys) and its
// CEL rules, plus the object metadata rules of every custom resource. `dynamoctl render`,
// `preflight -f` and `observability scrape-config -f` read graphs through it, so a file they
// accept is one the API server accepts, and what they print is what the operator would apply.
package graphschema

import (
	"context"
	"fmt"
	"strings"
	"sync"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	apivalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/dynamo-infra/dynamo-infra/config"
)

// Schema is the compiled validation of one CRD version.
type Schema struct {
	kind       string
	structural *structuralschema.Structural
	validator  apivalidation.SchemaValidator
	cel        *cel.Validator
}

var (
	once, onceBeta     sync.Once
	dgd, dgdBeta       *Schema
	dgdErr, dgdBetaErr error
)

// DGD returns the v1alpha1 schema of the embedded DynamoGraphDeployment CRD (compiled once).
func DGD() (*Schema, error) {
	once.Do(func() { dgd, dgdErr = Compile(config.DGDCRD, "v1alpha1") })
	return dgd, dgdErr
}

// DGDBeta returns the v1beta1 schema of the embedded DynamoGraphDeployment CRD (compiled once).
func DGDBeta() (*Schema, error) {
	onceBeta.Do(func() { dgdBeta, dgdBetaErr = Compile(config.DGDCRD, "v1beta1") })
	return dgdBeta, dgdBetaErr
}

// Compile builds the schema of a CRD manifest's version.
func Compile(crdYAML []byte, version string) (*Schema, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(crdYAML, crd); err != nil {
		return nil, fmt.Errorf("read the CRD: %w", err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != version || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		internal := &apiextensionsinternal.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
			return nil, fmt.Errorf("convert the schema: %w", err)
		}
		structural, err := structuralschema.NewStructural(internal)
		if err != nil {
			return nil, fmt.Errorf("structural schema: %w", err)
		}
		validator, _, err := apivalidation.NewSchemaValidator(internal)
		if err != nil {
			return nil, fmt.Errorf("schema validator: %w", err)
		}
		return &Schema{kind: crd.Spec.Names.Kind + "." + crd.Spec.Group, structural: structural, validator: validator,
			cel: cel.NewValidator(structural, true, celconfig.PerCallLimit)}, nil
	}
	return nil, fmt.Errorf("the CRD has no schema for version %s", version)
}

// DefaultAndValidate applies the schema's defaults to obj (a decoded manifest) and returns
// what the API server would refuse, in its words: one error naming every invalid field.
//
// As the API server, a field written with no value (`subComponentType:`, null) that the schema
// does not mark nullable is dropped first — or given its default — rather than refused: upstream's
// recipes write such fields and the API server accepts them.
func (s *Schema) DefaultAndValidate(ctx context.Context, obj map[string]any) error {
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj, s.structural)
	structuraldefaulting.Default(obj, s.structural)
	u := &unstructured.Unstructured{Object: obj}
	errs := metavalidation.ValidateObjectMetaAccessor(u, true, metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, apivalidation.ValidateCustomResource(nil, obj, s.validator)...)
	errs = append(errs, schemaobjectmeta.Validate(nil, obj, s.structural, false)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, s.structural, obj)...)
	// As the API server: CEL runs only on an object whose types are right.
	if !blocking(errs) {
		celErrs, _ := s.cel.Validate(ctx, nil, s.structural, obj, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Kind: s.kind, Name: u.GetName(), Errs: errs}
}

func blocking(errs field.ErrorList) bool {
	for _, e := range errs {
		if e.Type == field.ErrorTypeRequired || e.Type == field.ErrorTypeTypeInvalid {
			return true
		}
	}
	return false
}

// InvalidError is a manifest the API server would refuse, worded as its 422 answer.
type InvalidError struct {
	Kind, Name string
	Errs       field.ErrorList
}

func (e *InvalidError) Error() string {
	msgs := make([]string, 0, len(e.Errs))
	for _, fe := range e.Errs {
		msgs = append(msgs, fe.Error())
	}
	return fmt.Sprintf("%s %q is invalid: %s", e.Kind, e.Name, strings.Join(msgs, "; "))
}
