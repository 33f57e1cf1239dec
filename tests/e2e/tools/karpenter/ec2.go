package main

// The few EC2 calls Auto Mode makes for a NodeClaim, over EC2's Query API (POST form, XML
// answer: "Making requests using the Query API", Amazon EC2 API Reference) to the rehearsal's
// EC2 endpoint (moto), which reads the region from the credential scope and checks no signature.

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const ec2APIVersion = "2016-11-15"

// sortedKeys: a map's keys in order, so a request's numbered parameters are always the same.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

type EC2 struct {
	Endpoint string
	Region   string
	HTTP     *http.Client
}

type Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type Instance struct {
	ID         string    `xml:"instanceId"`
	Type       string    `xml:"instanceType"`
	State      string    `xml:"instanceState>name"`
	Zone       string    `xml:"placement>availabilityZone"`
	PrivateIP  string    `xml:"privateIpAddress"`
	ImageID    string    `xml:"imageId"`
	LaunchTime time.Time `xml:"launchTime"`
	Tags       []Tag     `xml:"tagSet>item"`
}

func (i Instance) Tag(key string) string {
	for _, tag := range i.Tags {
		if tag.Key == key {
			return tag.Value
		}
	}
	return ""
}

// Gone is whether EC2 reports the instance as ended (or ending): a NodeClaim's instance that is
// shutting-down or terminated is not coming back.
func (i Instance) Gone() bool {
	return i.State == "shutting-down" || i.State == "terminated"
}

type ec2Error struct {
	Code    string `xml:"Errors>Error>Code"`
	Message string `xml:"Errors>Error>Message"`
}

type APIError struct{ Code, Message string }

func (e *APIError) Error() string { return fmt.Sprintf("EC2 %s: %s", e.Code, e.Message) }

func (c *EC2) call(action string, params url.Values, out interface{}) error {
	params.Set("Action", action)
	params.Set("Version", ec2APIVersion)
	request, err := http.NewRequest(http.MethodPost, c.Endpoint, strings.NewReader(params.Encode()))
	if err != nil {
		return err
	}
	request.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	day := time.Now().UTC().Format("20060102")
	request.Header.Set("Authorization", fmt.Sprintf(
		"AWS4-HMAC-SHA256 Credential=testing/%s/%s/ec2/aws4_request, SignedHeaders=host, Signature=0",
		day, c.Region))
	response, err := c.HTTP.Do(request)
	if err != nil {
		return fmt.Errorf("EC2 %s: %w", action, err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		return fmt.Errorf("EC2 %s: %w", action, err)
	}
	if response.StatusCode >= 300 {
		var failure ec2Error
		if xml.Unmarshal(body, &failure) == nil && failure.Code != "" {
			return &APIError{failure.Code, failure.Message}
		}
		return fmt.Errorf("EC2 %s: HTTP %d: %s", action, response.StatusCode, body)
	}
	return xml.Unmarshal(body, out)
}

// RunInstances launches one instance of a type in a subnet, with tags on the instance.
func (c *EC2) RunInstances(instanceType, subnet, image string, tags map[string]string) (Instance, error) {
	params := url.Values{
		"ImageId":                         {image},
		"InstanceType":                    {instanceType},
		"MinCount":                        {"1"},
		"MaxCount":                        {"1"},
		"SubnetId":                        {subnet},
		"TagSpecification.1.ResourceType": {"instance"},
	}
	for n, key := range sortedKeys(tags) {
		prefix := "TagSpecification.1.Tag." + strconv.Itoa(n+1)
		params.Set(prefix+".Key", key)
		params.Set(prefix+".Value", tags[key])
	}
	var answer struct {
		Instances []Instance `xml:"instancesSet>item"`
	}
	if err := c.call("RunInstances", params, &answer); err != nil {
		return Instance{}, err
	}
	if len(answer.Instances) != 1 {
		return Instance{}, fmt.Errorf("EC2 RunInstances returned %d instances", len(answer.Instances))
	}
	return answer.Instances[0], nil
}

func (c *EC2) TerminateInstance(id string) error {
	var answer struct{}
	return c.call("TerminateInstances", url.Values{"InstanceId.1": {id}}, &answer)
}

// DescribeInstances by IDs, or by tag filters (name -> values) when ids is empty.
func (c *EC2) DescribeInstances(ids []string, filters map[string][]string) ([]Instance, error) {
	params := url.Values{}
	for n, id := range ids {
		params.Set("InstanceId."+strconv.Itoa(n+1), id)
	}
	for n, name := range sortedKeys(filters) {
		prefix := "Filter." + strconv.Itoa(n+1)
		params.Set(prefix+".Name", name)
		for m, value := range filters[name] {
			params.Set(prefix+".Value."+strconv.Itoa(m+1), value)
		}
	}
	var answer struct {
		Reservations []struct {
			Instances []Instance `xml:"instancesSet>item"`
		} `xml:"reservationSet>item"`
	}
	if err := c.call("DescribeInstances", params, &answer); err != nil {
		return nil, err
	}
	var found []Instance
	for _, reservation := range answer.Reservations {
		found = append(found, reservation.Instances...)
	}
	return found, nil
}
